"""`invoke scale` on a cloud stack, AWS's and Azure's (one path), run for real against a local cluster's nodes: the
stack's config gets the floor and is deployed (the stand-in Pulumi CLI behind the Automation API), its compute nodes
are found where the cloud's API holds them (AWS: by tag in its VPC, on moto_server; Azure: by tag in its resource
group, on the local Resource Manager through the real Azure SDK), each head-launched node at a local node's address,
and over the nodes' real sshd the slurm role renders the new floor on the head and that node, slurmctld reads it and
powers up the node the floor adds through its resume program (here the local power agent: on AWS the head's EC2
launcher, on Azure its VM creator). A node whose boot variables are missing (booted before they were kept on disk)
stops the scale naming it, and the scale run again finishes the job. The only thing that is not the cloud's is where
the nodes keep the roles (the checkout, not the bundle's folder), set on the backend."""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

import targets
from components.boot.script import BOOT_VARS, FETCHED_MUNGE_KEY
from remote.errors import RemoteError
from spec.outputs import ENVIRONMENT_TAG, NODE_TAG, Outputs
from targets import pulumi_stack
from targets.azure import session as azure_session_module
from targets.cloud import PulumiBackend
from targets.local import boot, keys, node
from targets.local.node_start import ANSIBLE_DIR
from targets.slurm_floor import Roles
from tests.aws import moto_fixture
from tests.azure import arm_fixture
from tests.azure.test_launched_vms import SCOPE, vm
from tests.local import harness
from tests.pulumi_cli.fixture import FakePulumi

pytestmark = pytest.mark.local_cluster

moto, aws_session = moto_fixture.moto, moto_fixture.aws_session  # the moto_server fixtures, by name
arm_server, arm, azure_session = arm_fixture.arm_server, arm_fixture.arm, arm_fixture.azure_session  # the local RM's
NAME = harness.run_name("cscale")
STACK = "scale-dev"
IDLE_MINUTES = 0.25  # 15 s
STARTED_WITHIN = 240.0  # a local node's start and boot (namespaces, sshd, the roles) on a loaded machine
GONE_WITHIN = 180.0  # idle time, Slurm's SuspendTimeout (30 s) and its power-save pass


@pytest.fixture(scope="module")
def cluster(state_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outputs]:
    """A local cluster of one partition, big: one node always on, a second for jobs."""
    spec = tmp_path_factory.mktemp("spec") / "scale.json"
    spec.write_text(json.dumps({
        "name": NAME, "target": "local", "partitions": [{"name": "big", "min": 1, "max": 2}],
        "scaling": {"idle_minutes": IDLE_MINUTES, "resume_timeout_minutes": 4},
        "storage": {"shared": {"kind": "local", "mount": "/shared"}}}))
    with harness.environment(state_dir, spec, NAME) as outputs:
        yield outputs


@dataclass(frozen=True)
class Cloud:
    """What stack scale-dev's config says on one cloud: its region's key and value, and the sizes and shared file
    system it gives."""

    region_key: str
    region: str
    size: str
    shared: str


CLOUDS = {"aws": Cloud("aws:region", "us-east-1", "c5.large", "efs"),
          "azure": Cloud("azure-native:location", "westeurope", "Standard_D4s_v5", "files")}


@dataclass(frozen=True)
class Stack:
    """Stack scale-dev as deployed on ``target``: its project folder, and where the cloud's API holds its nodes
    (``fleet``: the VPC on AWS; ``scope``: the subscription and resource group on Azure)."""

    target: str
    project: Path
    fleet: dict[str, Any]
    scope: dict[str, Any]

    def contract(self, cluster: Outputs, floor: int) -> dict[str, object]:
        """What the stack exports with big's floor at ``floor``."""
        cloud = CLOUDS[self.target]
        return {"target": self.target, "name": STACK, "region": cloud.region, "ssh_user": cluster.ssh_user,
                "ssh_private_key": cluster.ssh_private_key, "head": cluster.cluster_head().model_dump(),
                "computes": [], **self.scope,
                "fleet": {"provider": self.target, "region": cloud.region, "tag_key": ENVIRONMENT_TAG,
                          "tag_value": STACK, "host_key": cluster.node("big-0").host_key, "expected": floor,
                          **self.fleet},
                "partitions": [{"name": "big", "instance_type": cloud.size, "min": floor, "max": 2,
                                "nodes": ["big-0", "big-1"]}]}


@pytest.fixture(params=sorted(CLOUDS))
def stack(request: pytest.FixtureRequest, cluster: Outputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          fake_pulumi: FakePulumi, user_home: Path) -> Stack:
    """Stack scale-dev on each cloud, deployed with big's floor at 1: its config in a project folder of its own, its
    head the local head, big-0 a machine its head launched (in the cloud's API, at the local node's address), whose
    host key is the fleet's; the user's key pair, which the plan shown before a deployment checks."""
    target, cloud = request.param, CLOUDS[request.param]
    keys.ssh_keypair(user_home / ".ssh" / "id_ed25519", "user@laptop")
    monkeypatch.setenv("CHPC_STATE_DIR", str(tmp_path / "state"))
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text((harness.ROOT / "Pulumi.yaml").read_text())
    (project / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump({"config": {
        cloud.region_key: cloud.region, "cloud-hpc-toolkit:target": target,
        "cloud-hpc-toolkit:ssh": {"allowed_cidr": "198.51.100.0/24"},
        "cloud-hpc-toolkit:head": {"instance_type": cloud.size},
        "cloud-hpc-toolkit:partitions": [{"name": "big", "instance_type": cloud.size, "min": 1, "max": 2}],
        "cloud-hpc-toolkit:storage": {"shared": {"kind": cloud.shared, "mount": "/shared"}}}}))
    monkeypatch.setattr(pulumi_stack, "PROJECT", project)
    monkeypatch.setattr(PulumiBackend, "roles", Roles(str(ANSIBLE_DIR), boot.environment()))
    launched = {"aws": launched_on_aws, "azure": launched_on_azure}[target]
    deployed = Stack(target, project, *launched(request, cluster, monkeypatch))
    fake_pulumi.deploy(STACK, deployed.contract(cluster, 1))
    return deployed


@pytest.fixture
def munge_key_fetched(cluster: Outputs, state_dir: Path) -> None:
    """The running nodes' boot variables name their munge key where a cloud node's do: where the boot fetched it
    onto tmpfs and removed it once installed (a local node's key is a file that stays). Left so: the cluster is the
    module's."""
    for name in ("head", "big-0"):
        was = json.loads(on_node(state_dir, name, "cat", BOOT_VARS))["munge_key_src"]
        on_node(state_dir, name, "sed", "-i", f's|"munge_key_src": "{was}"|"munge_key_src": "{FETCHED_MUNGE_KEY}"|',
                BOOT_VARS)
        assert json.loads(on_node(state_dir, name, "cat", BOOT_VARS))["munge_key_src"] == FETCHED_MUNGE_KEY
        assert on_node(state_dir, name, "sh", "-c", f"test -e {FETCHED_MUNGE_KEY} || echo gone").strip() == "gone"


def launched_on_aws(request: pytest.FixtureRequest, cluster: Outputs, monkeypatch: pytest.MonkeyPatch,
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """big-0 as an instance in a VPC holding the local network, on moto_server; the fleet's VPC."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", request.getfixturevalue("moto").endpoint)
    ec2 = request.getfixturevalue("aws_session").client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.213.0.0/16")["Vpc"]["VpcId"]
    local_net = ipaddress.ip_network(f"{cluster.cluster_head().address}/24", strict=False)
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=str(local_net))["Subnet"]["SubnetId"]
    ec2.run_instances(ImageId="ami-12345678", InstanceType="c5.large", MinCount=1, MaxCount=1, SubnetId=subnet,
                      PrivateIpAddress=cluster.node("big-0").address, TagSpecifications=[{
                          "ResourceType": "instance", "Tags": [{"Key": ENVIRONMENT_TAG, "Value": STACK},
                                                               {"Key": NODE_TAG, "Value": "big-0"}]}])
    return {"vpc_id": vpc}, {}


def launched_on_azure(request: pytest.FixtureRequest, cluster: Outputs, monkeypatch: pytest.MonkeyPatch,
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
    """big-0 as a VM tagged as the head's resume program tags it, its NIC at the local node's address, in the
    stack's resource group on the local Resource Manager, which the Azure SDK is pointed at; the stack's scope."""
    session = request.getfixturevalue("azure_session")
    monkeypatch.setattr(azure_session_module, "for_scope", lambda scope: session if scope == SCOPE else None)
    vm(request.getfixturevalue("arm"), "big-0", {ENVIRONMENT_TAG: STACK, NODE_TAG: "big-0"},
       cluster.node("big-0").address)
    return {}, {"azure": SCOPE.model_dump()}


def on_node(state_dir: Path, node_name: str, *argv: str) -> str:
    inits = json.loads((state_dir / NAME / "journal.json").read_text())["inits"]
    return node.run(inits[node_name], list(argv), f"ask {node_name}").stdout


def suspend_exc_nodes(state_dir: Path, node_name: str) -> list[str]:
    conf = on_node(state_dir, node_name, "cat", "/etc/slurm/slurm.conf")
    return [line for line in conf.splitlines() if line.startswith("SuspendExcNodes")]


def big_1(state_dir: Path) -> str:
    return on_node(state_dir, "head", "sinfo", "-h", "-N", "-n", "big-1", "-o", "%t").strip()


def wait_for(state_dir: Path, state: str, within: float) -> None:
    deadline = time.monotonic() + within
    while big_1(state_dir) != state and time.monotonic() < deadline:
        time.sleep(2)
    assert big_1(state_dir) == state


def scale(floor: int) -> tuple[Outputs, str]:
    console = Console(record=True, width=300)
    contract = targets.scale(targets.find(None, STACK), "big", floor, console)
    return contract, console.export_text()


def hourly_cost(shown: str) -> float:
    """The cost per hour of the plan a scale showed before deploying."""
    found = re.search(r"cost while running: about \$([\d,]+\.\d\d) per hour", shown)
    assert found, shown
    return float(found.group(1).replace(",", ""))


def deployed_floor(fake_pulumi: FakePulumi) -> int:
    """big's min in the config the last `up` deployed (as the stand-in CLI recorded it)."""
    config = json.loads((fake_pulumi.backend / f"up-config-{STACK}.json").read_text())
    return json.loads(config["cloud-hpc-toolkit:partitions"]["value"])[0]["min"]


@pytest.mark.usefixtures("munge_key_fetched")
def test_scale_records_the_floor_in_the_stack_deploys_it_and_moves_slurms(
        cluster: Outputs, stack: Stack, state_dir: Path, fake_pulumi: FakePulumi) -> None:
    # big-0 alone always on: as the boot wrote it, or as the other cloud's scale left it (the cluster is the module's)
    assert suspend_exc_nodes(state_dir, "head") in (["SuspendExcNodes=big-0"], ["SuspendExcNodes=big-[0-0]"])
    assert big_1(state_dir) == "idle~"
    fake_pulumi.program(stack.contract(cluster, 2))
    on_node(state_dir, "big-0", "mv", BOOT_VARS, f"{BOOT_VARS}.kept")  # as on a node booted before they were kept
    with pytest.raises(RemoteError) as stopped:
        scale(2)
    assert (stopped.value.node, stopped.value.step) == ("big-0", "render slurm.conf")
    assert f"{BOOT_VARS} is missing: the node booted before the toolkit kept its boot variables" in (
        stopped.value.detail)
    assert "set SuspendExcNodes in /etc/slurm/slurm.conf on big-0 by hand" in stopped.value.hint
    assert big_1(state_dir) == "idle~"  # nothing powered up by a scale that stopped half way
    on_node(state_dir, "big-0", "mv", f"{BOOT_VARS}.kept", BOOT_VARS)
    raised, shown = scale(2)  # again: the floor is deployed already, and Slurm's part is done now
    assert yaml.safe_load((stack.project / f"Pulumi.{STACK}.yaml").read_text())["config"][
        "cloud-hpc-toolkit:partitions"][0]["min"] == 2
    assert deployed_floor(fake_pulumi) == 2 and raised.partition("big").min == 2
    assert Outputs.load(stack.project.parent / "state" / STACK / "outputs.json").partition("big").min == 2
    assert "stack scale-dev: partitions[0].min = 2 in its config; deploying it" in shown
    raised_cost = hourly_cost(shown)  # up's plan, shown first, prices the new floor
    assert "partition big of scale-dev: 2 of 2 nodes always on (was 2); starting big-1" in shown
    assert suspend_exc_nodes(state_dir, "head") == suspend_exc_nodes(state_dir, "big-0") == [
        "SuspendExcNodes=big-[0-1]"]
    wait_for(state_dir, "idle", STARTED_WITHIN)  # started through Slurm's resume program
    fake_pulumi.program(stack.contract(cluster, 1))
    lowered, shown = scale(1)
    assert deployed_floor(fake_pulumi) == 1 and lowered.partition("big").min == 1
    assert "partition big of scale-dev: 1 of 2 nodes always on (was 2); the others stop after the idle time" in shown
    assert hourly_cost(shown) < raised_cost
    assert suspend_exc_nodes(state_dir, "head") == ["SuspendExcNodes=big-[0-0]"]
    wait_for(state_dir, "idle~", GONE_WITHIN)  # no longer kept: power saving stopped it after the idle time

