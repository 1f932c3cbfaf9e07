"""What `invoke bench-network` needs and prints beside a measurement: what the compute nodes' networking should
give, and a warning when the latency is far above it (and only then)."""

from __future__ import annotations

import pytest

from remote.mpi_pair import PairFigures
from remote.pool import Pool
from spec.outputs import ComputeMachine, Node, Outputs, SharedFs
from targets.errors import TargetError
from targets.network_bench import latency, report, size
from targets.network_expectation import FAR_OFF, expectation, far_off


def outputs(target: str, networking: str | None, instance_type: str = "c5n.18xlarge") -> Outputs:
    machine = None if networking is None else ComputeMachine(instance_type=instance_type, networking=networking)
    return Outputs(target=target, name="net", region=None if target == "local" else "r1", ssh_user="u",
                   ssh_private_key="~/.ssh/id", compute_machine=machine)


def measured(zero_bytes_us: float) -> PairFigures:
    return PairFigures(hosts=("compute-0", "compute-1"), latency_us={0: zero_bytes_us, 1024: zero_bytes_us + 4})


@pytest.mark.parametrize(("target", "networking", "fabric"), [
    ("local", "none", "TCP over a Linux bridge (every node on this one machine)"),
    ("aws", "none", "TCP without ENA"), ("aws", "enhanced", "TCP on ENA"), ("aws", "rdma", "EFA"),
    ("azure", "none", "TCP without accelerated networking"),
    ("azure", "enhanced", "TCP with accelerated networking"), ("azure", "rdma", "InfiniBand"),
])
def test_every_target_and_networking_has_an_expectation(target: str, networking: str, fabric: str) -> None:
    expected = expectation(outputs(target, networking))
    assert expected is not None and expected.fabric == fabric
    low, high = expected.latency_us
    assert 0 < low < high


def test_the_local_bridge_warns_at_busy_polling_speed_and_not_at_the_yielding_one() -> None:
    local = expectation(outputs("local", "none"))
    assert local is not None
    warning = far_off(4044.0, local)  # what busy-polling ranks measured on this machine
    assert warning is not None and warning.startswith("warning: 0-byte latency 4,044.0 µs is 81× the 50 µs")
    assert "mpi_yield_when_idle = 1" in warning
    assert far_off(8.4, local) is None  # what the same ping-pong measured with ranks yielding


def test_the_warning_starts_just_above_the_far_off_factor() -> None:
    infiniband = expectation(outputs("azure", "rdma", "Standard_HB120rs_v3"))
    assert infiniband is not None
    limit = FAR_OFF * infiniband.latency_us[1]
    assert far_off(limit, infiniband) is None
    warning = far_off(limit + 0.1, infiniband)  # e.g. MPI over TCP on InfiniBand nodes
    assert warning is not None and "InfiniBand should give" in warning and "MPI uses the fabric" in warning


def test_the_report_warns_when_far_off_and_not_otherwise() -> None:
    ena = expectation(outputs("aws", "enhanced", "c5n.large"))
    slow = report(measured(400.0), None, ena)
    assert slow[-1].startswith("warning: 0-byte latency 400.0 µs is 7× the 60 µs that TCP on ENA should give")
    fine = report(measured(45.0), None, ena)
    assert not [line for line in fine if line.startswith("warning")]
    assert fine[0] == "compute-0 ↔ compute-1: MPI, one rank per node (OSU pattern, mpi4py)"
    assert fine[1:3] == ["latency        0 B       45.00 µs", "latency      1 KiB       49.00 µs"]
    assert fine[-1] == ("expected   TCP on ENA: latency 30–60 µs; bandwidth about 1,200 MB/s (10 Gb/s) per stream "
                        "in a cluster placement group")


def test_the_report_shows_bandwidth_by_size() -> None:
    rates = PairFigures(hosts=("compute-0", "compute-1"), bandwidth_mb_s={4 << 20: 1865.06, 1 << 20: 1946.33})
    lines = report(measured(12.5), rates, expectation(outputs("local", "none")))
    assert lines[3:5] == ["bandwidth    1 MiB       1,946 MB/s", "bandwidth    4 MiB       1,865 MB/s"]


def test_a_stack_that_does_not_say_what_its_computes_run_on_gets_no_expectation_and_no_warning() -> None:
    old = outputs("aws", None)
    assert expectation(old) is None
    lines = report(measured(4044.0), None, None)
    assert lines[-1].startswith("expected   unknown: the environment's outputs do not say what its compute nodes")
    assert not [line for line in lines if line.startswith("warning")]


@pytest.mark.parametrize(("count", "shown"), [(0, "0 B"), (1024, "1 KiB"), (1 << 20, "1 MiB"), (4 << 20, "4 MiB"),
                                              (1536, "1536 B")])
def test_sizes_read_as_a_person_reads_them(count: int, shown: str) -> None:
    assert size(count) == shown


def cluster_of(computes: int, shared: bool) -> Outputs:
    """A cluster on unroutable addresses (TEST-NET-1): anything that tried to connect would fail, not hang."""
    nodes = [Node(name=n, address=f"192.0.2.{i + 10}", host_key="ssh-ed25519 AAAA")
             for i, n in enumerate(["head", *(f"compute-{i}" for i in range(computes))])]
    return Outputs(target="local", name="net", ssh_user="u", ssh_private_key="/nonexistent", head=nodes[0],
                   computes=nodes[1:], shared=SharedFs(kind="bind", source="/s", mount="/shared") if shared else None)


@pytest.mark.parametrize(("computes", "shared", "said"), [
    (1, True, "environment 'net' has 1 compute node(s) running; measuring between two needs two"),
    (2, False, "environment 'net' has no shared file system to run the job from; add storage.shared to its spec"),
])
def test_what_a_measurement_needs_is_said_before_any_connection(computes: int, shared: bool, said: str) -> None:
    with Pool(cluster_of(computes, shared), deadline=1) as pool, pytest.raises(TargetError) as caught:
        latency(pool, 60.0)
    assert str(caught.value).startswith(said)


@pytest.mark.parametrize(("target", "instance_type", "settings"), [
    ("aws", "c5n.18xlarge", "pml = cm with mtl_ofi_provider_include = efa"),
    ("azure", "Standard_HB120rs_v3", "pml = ucx with UCX_NET_DEVICES naming their InfiniBand port"),
])
def test_an_rdma_warning_names_the_settings_the_mpi_role_writes_for_the_fabric(target: str, instance_type: str,
                                                                               settings: str) -> None:
    fabric = expectation(outputs(target, "rdma", instance_type))
    assert fabric is not None
    warning = far_off(100.0, fabric)  # TCP's latency on a fabric
    assert warning is not None and settings in warning and "the mpi role writes it for rdma" in warning
