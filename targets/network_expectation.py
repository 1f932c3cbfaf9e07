"""What MPI between two compute nodes should measure on the networking they have, and a warning when it is far off:
how a user learns whether the fabric they pay for is in use.

The figures are one-way small-message MPI latencies of each kind of network, rounded to what a user can hold a
measurement against, not promises: TCP over a Linux bridge between namespaces of one machine, tens of µs at most;
Foster & Gannon's TCP ring on c3.xlarge (no ENA), about 70 µs; TCP on ENA or Azure's accelerated networking, 30 to
60 µs; EFA, about 20 µs; InfiniBand HDR, 1 to 2 µs. The local target's figure follows from where its nodes run
(one machine), the clouds' from the networking their compute nodes have; both as the contract says
(``Outputs.compute_machine``).
"""

from __future__ import annotations

from dataclasses import dataclass

from spec.outputs import Outputs

FAR_OFF = 3.0  # a latency more than this many times the expected upper figure gets a warning


@dataclass(frozen=True)
class Expectation:
    """What one kind of network should give two MPI ranks on two nodes."""

    fabric: str
    latency_us: tuple[float, float]  # the range a two-node 0-byte latency should fall in
    bandwidth: str  # what one stream between two nodes should carry, in words
    check: str  # what to look at when the latency is far off


_TCP_CHECK = ("MPI takes the cluster interface (btl_tcp_if_include in /etc/openmpi/openmpi-mca-params.conf) and "
              "the nodes share a placement group")
_EFA_CHECK = ("MPI uses the fabric: the compute nodes' /etc/openmpi/openmpi-mca-params.conf says pml = cm with "
              "mtl_ofi_provider_include = efa (the mpi role writes it for rdma), `fi_info -p efa` lists the device, "
              "and the nodes share a cluster placement group")
_IB_CHECK = ("MPI uses the fabric: the compute nodes' /etc/openmpi/openmpi-mca-params.conf says pml = ucx with "
             "UCX_NET_DEVICES naming their InfiniBand port (the mpi role writes it for rdma), and that port is ACTIVE "
             "(/sys/class/infiniband/DEVICE/ports/PORT/state)")
_EXPECTED: dict[tuple[str, str], Expectation] = {
    ("local", "none"): Expectation(
        "TCP over a Linux bridge (every node on this one machine)", (5.0, 50.0),
        "a copy through this machine's kernel: 1,000 MB/s or more",
        "the compute nodes' /etc/openmpi/openmpi-mca-params.conf says mpi_yield_when_idle = 1 (ranks that "
        "busy-poll on shared cores starve each other; the mpi role writes it where cores are shared) and that this "
        "machine is not busy with other work (`uptime`)"),
    ("aws", "none"): Expectation("TCP without ENA", (50.0, 100.0),
                                 "up to the instance type's network performance", _TCP_CHECK),
    ("aws", "enhanced"): Expectation("TCP on ENA", (30.0, 60.0),
                                     "about 1,200 MB/s (10 Gb/s) per stream in a cluster placement group", _TCP_CHECK),
    ("aws", "rdma"): Expectation("EFA", (15.0, 20.0), "up to the instance type's network bandwidth", _EFA_CHECK),
    ("azure", "none"): Expectation("TCP without accelerated networking", (50.0, 100.0),
                                   "up to the size's network bandwidth", _TCP_CHECK),
    ("azure", "enhanced"): Expectation("TCP with accelerated networking", (30.0, 60.0),
                                       "up to the size's network bandwidth", _TCP_CHECK),
    ("azure", "rdma"): Expectation("InfiniBand", (1.0, 2.0), "about 24,000 MB/s on HDR (200 Gb/s)", _IB_CHECK),
}


def expectation(outputs: Outputs) -> Expectation | None:
    """What the environment's compute nodes should measure; None for a stack deployed before the contract said
    what they run on (``compute_machine``)."""
    machine = outputs.compute_machine
    return None if machine is None else _EXPECTED[(outputs.target, machine.networking)]


def far_off(latency_us: float, expected: Expectation) -> str | None:
    """A one-line warning when a measured 0-byte latency is more than FAR_OFF times the expected upper figure."""
    high = expected.latency_us[1]
    if latency_us <= FAR_OFF * high:
        return None
    return (f"warning: 0-byte latency {latency_us:,.1f} µs is {latency_us / high:,.0f}× the {high:g} µs that "
            f"{expected.fabric} should give; check that {expected.check}")
