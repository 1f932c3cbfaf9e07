"""The Open MPI configuration the mpi role writes for each network a node can have, rendered by ansible's own
template module from the role's template and defaults (as the role renders it), then read back by this machine's
Open MPI: TCP with none / enhanced and on the local target, EFA through libfabric on AWS with rdma, UCX over
InfiniBand on Azure with rdma."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROLE = ROOT / "ansible" / "roles" / "mpi"
PLAYBOOK = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}"]
# name: (cloud, networking, interface, cores, nodes on the machine, cores shared)
CASES = {
    "local": ("local", "none", "eth0", 2, 3, True),
    "aws-none": ("aws", "none", "auto", 96, 1, False),
    "aws-enhanced": ("aws", "enhanced", "auto", 96, 1, False),
    "aws-rdma": ("aws", "rdma", "auto", 96, 1, False),
    "azure-none": ("azure", "none", "auto", 120, 1, False),
    "azure-enhanced": ("azure", "enhanced", "auto", 120, 1, False),
    "azure-rdma": ("azure", "rdma", "auto", 120, 1, False),
}
ROUTE = "ens5"  # what the role's default-route lookup finds on a Nitro instance


def tcp(interface: str) -> dict[str, str]:
    return {"pml": "ob1", "btl": "tcp,vader,self", "btl_tcp_if_include": interface,
            "oob_tcp_if_include": interface, "btl_vader_single_copy_mechanism": "none"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every case rendered in one ansible-playbook run: the role's defaults, then the facts its earlier tasks
    register (the default route, nproc, the yield decision) and the boot's variables for the case."""
    out = tmp_path_factory.mktemp("mca")
    cases = [{"name": name, "cloud": cloud, "networking": networking, "interface": interface, "cores": str(cores),
              "nodes": nodes, "shared": shared}
             for name, (cloud, networking, interface, cores, nodes, shared) in CASES.items()]
    playbook = out / "render.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False, "vars_files": [str(ROLE / "defaults" / "main.yml")],
        "tasks": [{"name": "render", "loop": cases, "ansible.builtin.template": {
            "src": str(ROLE / "templates" / "openmpi-mca-params.conf.j2"), "dest": f"{out}/{{{{ item.name }}}}.conf",
            "mode": "0644"}, "vars": {
                "mpi_cloud": "{{ item.cloud }}", "mpi_networking": "{{ item.networking }}",
                "mpi_interface": "{{ item.interface }}", "mpi_default_route": {"stdout": ROUTE},
                "mpi_cores": {"stdout": "{{ item.cores }}"}, "mpi_nodes_per_machine": "{{ item.nodes }}",
                "mpi_cores_shared": "{{ item.shared }}"}}]}]))
    binary = Path(sys.executable).with_name(PLAYBOOK[0])
    result = subprocess.run([str(binary), *PLAYBOOK[1:], str(playbook)], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "ANSIBLE_LOCAL_TEMP": str(out / ".ansible")})
    assert result.returncode == 0, result.stdout + result.stderr
    return {name: out / f"{name}.conf" for name in CASES}


def params(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def test_the_local_target_stays_on_tcp_over_its_bridge_and_yields(rendered: dict[str, Path]) -> None:
    assert params(rendered["local"]) == {**tcp("eth0"), "mpi_yield_when_idle": "1"}
    assert "# TCP (local, networking none)" in rendered["local"].read_text()


@pytest.mark.parametrize("case", ["aws-none", "aws-enhanced", "azure-none", "azure-enhanced"])
def test_none_and_enhanced_run_tcp_on_the_default_routes_interface_and_poll(rendered: dict[str, Path],
                                                                            case: str) -> None:
    cores = CASES[case][3]
    assert params(rendered[case]) == tcp(ROUTE)
    assert f"# Own cores: up to {cores} rank(s) on {cores} core(s)." in rendered[case].read_text()


def test_rdma_on_aws_takes_efa_through_libfabric(rendered: dict[str, Path]) -> None:
    assert params(rendered["aws-rdma"]) == {
        "pml": "cm", "mtl": "ofi", "mtl_ofi_provider_include": "efa", "btl": "tcp,vader,self",
        "btl_tcp_if_include": ROUTE, "oob_tcp_if_include": ROUTE, "btl_vader_single_copy_mechanism": "none"}


def test_rdma_on_azure_takes_ucx_over_the_infiniband_port(rendered: dict[str, Path]) -> None:
    assert params(rendered["azure-rdma"]) == {
        "pml": "ucx", "osc": "ucx", "btl": "^vader,tcp,openib,uct",
        "mca_base_env_list": "UCX_TLS=rc,sm,self;UCX_NET_DEVICES=mlx5_ib0:1", "oob_tcp_if_include": ROUTE}


def ompi(path: Path, *command: str) -> str:
    """``command`` run with ``path`` as Open MPI's only parameter file (this machine's own is left out)."""
    env = {**os.environ, "OMPI_MCA_mca_base_param_files": str(path), "OMPI_ALLOW_RUN_AS_ROOT": "1",
           "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    result = subprocess.run(list(command), capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize(("case", "pml"), [("local", "ob1"), ("aws-enhanced", "ob1"), ("aws-rdma", "cm"),
                                           ("azure-rdma", "ucx")])
def test_open_mpi_reads_the_pml_each_file_names(rendered: dict[str, Path], case: str, pml: str) -> None:
    seen = ompi(rendered[case], "ompi_info", "--parsable", "--param", "pml", "all", "--level", "9")
    assert f"mca:pml:base:param:pml:value:{pml}\n" in seen
    assert f"mca:pml:base:param:pml:source:file ({rendered[case]}:" in seen


def test_open_mpi_asks_libfabric_for_the_efa_provider_only(rendered: dict[str, Path]) -> None:
    seen = ompi(rendered["aws-rdma"], "ompi_info", "--parsable", "--param", "mtl", "ofi", "--level", "9")
    assert "mca:mtl:ofi:param:mtl_ofi_provider_include:value:efa\n" in seen


def test_every_rank_gets_ucxs_device_and_transports_from_open_mpi(rendered: dict[str, Path]) -> None:
    """A rank's environment as mpirun starts it: the variables UCX reads come from the file, on every node (this
    machine has no ens5: its start-up takes the loopback, the command line winning over the file)."""
    seen = ompi(rendered["azure-rdma"], "mpirun", "--mca", "oob_tcp_if_include", "lo", "--oversubscribe", "-np", "1",
                "printenv", "UCX_TLS", "UCX_NET_DEVICES")
    assert seen.split() == ["rc,sm,self", "mlx5_ib0:1"]
