"""Slurm's resume and suspend programs on Azure, for real: ``components/boot/azure_power.py`` run by the system's
``python3`` with the command line slurmctld runs, against the local Resource Manager over TLS (fake_arm.py, with
Microsoft.Compute's VM life from fake_compute.py), with the head identity's token from a local IMDS. What exists
afterwards is read from the fake's store. ``scontrol`` is a recording fake for ``update``, and Debian's real one for
``show hostnames`` (the expansion is Slurm's own)."""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components.boot import azure_power
from components.boot.azure_power import Config, PartitionVms, power_config, vm_template
from components.boot.cloud_files import with_variables
from components.boot.script import boot_script
from tests.azure.fake_arm import SUBSCRIPTION, TOKEN, FakeArm, Reply
from tests.azure.fake_compute import VM, FakeCompute
from tests.boot.configs import azure
from tests.boot.documents import custom_data_text, variables_of
from tests.boot.fake_imds import FakeImds
from tests.slurm_conf import render_slurm_conf

PYTHON3 = shutil.which("python3", path="/usr/bin:/bin") or "python3"  # the system's, without the venv's packages
SCONTROL = "/usr/bin/scontrol"  # Debian's slurm-client (slurm-wlm in the Makefile's packages)
ENVIRONMENT, GROUP, HEAD_CLIENT = "hpc-dev", "hpc-dev-rg", "00000000-0000-0000-0000-0000000000e1"
RG = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}"
SUBNET = f"{RG}/providers/Microsoft.Network/virtualNetworks/hpc-dev/subnets/cluster"
IDENTITY = f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/hpc-dev-nodes"
PLACEMENT = f"{RG}/providers/Microsoft.Compute/proximityPlacementGroups/hpc-dev"
IMAGE = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"}
HPC_IMAGE = {"publisher": "microsoft-dsvm", "offer": "ubuntu-hpc", "sku": "2404", "version": "latest"}


def scale_set(partition: str) -> str:
    return f"{RG}/providers/Microsoft.Compute/virtualMachineScaleSets/hpc-dev-{partition}"


def partition(name: str, sizes: tuple[str, ...], accelerated: tuple[str, ...], image: dict[str, str],
              spot: bool = False) -> PartitionVms:
    return PartitionVms(scale_set_id=scale_set(name), vm_sizes=sizes, accelerated=accelerated, spot=spot,
                        boot_script=boot_script(azure("compute", tunables=tunables(name))), template=vm_template(
                            location="westeurope", tags={"chpc:environment": ENVIRONMENT, "team": "cfd"}, zone="1",
                            scale_set_id=scale_set(name), placement_group_id=PLACEMENT, identity_id=IDENTITY,
                            subnet_id=SUBNET, image=image, admin_user="azureuser",
                            public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey user@laptop", os_disk_gb=64,
                            os_disk_type="StandardSSD_LRS"))


def tunables(partition: str) -> dict[str, object]:
    """The slurm role's power saving variables of a cluster of one partition, whose first two nodes are its floor."""
    return {"slurm_partitions": [{"name": partition, "nodes": [f"{partition}-[0-9]"]}],
            "slurm_cloud_nodes": [f"{partition}-[0-9]"], "slurm_power_up_nodes": [f"{partition}-[0-1]"],
            "slurm_resume_command": "/var/lib/slurm/power/resume",
            "slurm_suspend_command": "/var/lib/slurm/power/suspend"}


@dataclass
class Head:
    """The head as slurmctld runs the programs there."""

    config: Path
    scontrol_log: Path
    bin: Path
    slurm_conf: Path
    arm: FakeArm
    compute: FakeCompute
    imds: FakeImds
    bundle: Path

    def run(self, action: str, hostlist: str) -> subprocess.CompletedProcess[str]:
        command = [PYTHON3, azure_power.__file__, "--config", str(self.config), "--arm", self.arm.url,
                   "--imds", self.imds.url, "--pause", "0.05", action, hostlist]
        env = {"PATH": f"{self.bin}:/usr/bin:/bin", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1",
               "SSL_CERT_FILE": self.arm.ca_file, "SLURM_CONF": str(self.slurm_conf)}
        return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)

    def updates(self) -> dict[str, list[str]]:
        """The last ``scontrol update`` arguments for each node."""
        calls: dict[str, list[str]] = {}
        lines = self.scontrol_log.read_text().splitlines() if self.scontrol_log.exists() else []
        for argv in map(json.loads, lines):
            assert argv[0] == "update", argv
            calls[argv[1].removeprefix("NodeName=")] = argv[2:]
        return calls

    def vms(self) -> dict[str, dict[str, Any]]:
        """The VMs in the resource group, by name."""
        return {vm["name"]: vm for vm in self.arm.list(f"{RG}/providers/Microsoft.Compute/virtualMachines")}


@pytest.fixture
def head(arm: FakeArm, tmp_path: Path) -> Iterator[Head]:
    """A head whose partitions are ``cpu`` (Standard_D4s_v5, then Standard_F4s_v2; spot first) and ``hpc``
    (Standard_HB120rs_v3, InfiniBand image), with a small bundle folder as the head's ansible/ copy."""
    assert shutil.which(SCONTROL), "scontrol is missing: make setup installs slurm-wlm"
    bin_dir, scontrol_log = tmp_path / "bin", tmp_path / "scontrol.jsonl"
    bin_dir.mkdir()
    fake = bin_dir / "scontrol"
    fake.write_text(f"#!{PYTHON3}\nimport json, os, sys\nif sys.argv[1:3] == ['show', 'hostnames']:\n"
                    f"    os.execv({SCONTROL!r}, [{SCONTROL!r}, *sys.argv[1:]])\n"
                    f"with open({str(scontrol_log)!r}, 'a') as record:\n"
                    "    record.write(json.dumps(sys.argv[1:]) + '\\n')\n")
    fake.chmod(0o755)
    slurm_conf = tmp_path / "slurm.conf"
    slurm_conf.write_text("ClusterName=hostlist\nSlurmctldHost=localhost\nNodeName=a CPUs=1\nPartitionName=p Nodes=a\n")
    bundle = tmp_path / "bundle"
    (bundle / "roles").mkdir(parents=True)
    (bundle / "boot.sh").write_text("#!/bin/sh\n")
    (bundle / "boot.sh").chmod(0o755)
    (bundle / "roles" / "site.yml").write_text("- hosts: localhost\n")
    config = tmp_path / "azure-power.json"
    config.write_text(power_config(Config(
        environment=ENVIRONMENT, subscription_id=SUBSCRIPTION, resource_group=GROUP, client_id=HEAD_CLIENT,
        bundle_dir=str(bundle), fetcher_path="/run/cloud-hpc-toolkit/node_secrets.py",
        boot_path="/run/cloud-hpc-toolkit/boot.sh", partitions={
            "cpu": partition("cpu", ("Standard_D4s_v5", "Standard_F4s_v2"), ("Standard_D4s_v5",), IMAGE, spot=True),
            "hpc": partition("hpc", ("Standard_HB120rs_v3",), ("Standard_HB120rs_v3",), HPC_IMAGE)})))
    imds = FakeImds(access_token=TOKEN, client_id=HEAD_CLIENT)
    yield Head(config, scontrol_log, bin_dir, slurm_conf, arm, FakeCompute(arm, retry_after="0"), imds, bundle)
    imds.stop()


def custom_data(vm: dict[str, Any]) -> dict[str, Any]:
    text = custom_data_text(vm["properties"]["osProfile"]["customData"])
    assert text.startswith("#cloud-config\n")
    return json.loads(text.removeprefix("#cloud-config\n"))


def test_resume_creates_each_nodes_vm_in_its_partitions_scale_set_named_and_tagged(head: Head) -> None:
    result = head.run("resume", "hpc-[0-1]")
    assert result.returncode == 0, result.stderr

    vms = head.vms()
    assert sorted(vms) == ["hpc-0", "hpc-1"]
    for node, vm in vms.items():
        properties = vm["properties"]
        assert vm["tags"] == {"chpc:environment": ENVIRONMENT, "chpc:node": node, "team": "cfd"}
        assert vm["zones"] == ["1"] and vm["identity"]["userAssignedIdentities"] == {IDENTITY: {}}
        assert properties["virtualMachineScaleSet"] == {"id": scale_set("hpc")}
        assert properties["proximityPlacementGroup"] == {"id": PLACEMENT}
        assert properties["hardwareProfile"] == {"vmSize": "Standard_HB120rs_v3"}
        assert "priority" not in properties  # regular
        assert properties["storageProfile"]["imageReference"] == HPC_IMAGE
        assert properties["storageProfile"]["osDisk"]["deleteOption"] == "Delete"
        assert properties["osProfile"]["computerName"] == node
        assert properties["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"] is True
        [nic] = properties["networkProfile"]["networkInterfaceConfigurations"]
        assert nic["properties"]["enableAcceleratedNetworking"] is True
        assert nic["properties"]["deleteOption"] == "Delete"
        assert nic["properties"]["ipConfigurations"][0]["properties"]["subnet"] == {"id": SUBNET}
    # Slurm learns each node's private address, read from the NIC Azure made
    nics = {vm: head.arm.get(vms[vm]["properties"]["networkProfile"]["networkInterfaces"][0]["id"]) for vm in vms}
    assert head.updates() == {
        node: [f"NodeAddr={nic['properties']['ipConfigurations'][0]['properties']['privateIPAddress']}",
               f"NodeHostname={node}"] for node, nic in nics.items()}
    # each creation was followed to its end through its Azure-AsyncOperation URL, every call with the token
    polls = [r for r in head.arm.requests if "/operations/" in r.path]
    assert len(polls) == 4 and all(r.query["api-version"] == "2024-11-01" for r in polls)
    token_request, = head.imds.seen
    assert token_request.query["client_id"] == HEAD_CLIENT
    assert token_request.query["resource"] == "https://management.azure.com/"
    assert sum("created VM" in line for line in result.stderr.splitlines()) == 2


def test_the_custom_data_is_the_partitions_boot_with_the_heads_bundle_and_fetcher(head: Head) -> None:
    assert head.run("resume", "cpu-0").returncode == 0
    document = custom_data(head.vms()["cpu-0"])
    files = {entry["path"]: entry for entry in document["write_files"]}
    bundle = str(head.bundle)
    assert set(files) == {f"{bundle}/boot.sh", f"{bundle}/roles/site.yml", "/run/cloud-hpc-toolkit/node_secrets.py",
                          "/run/cloud-hpc-toolkit/boot.sh"}
    assert gzip.decompress(base64.b64decode(files[f"{bundle}/roles/site.yml"]["content"])) == b"- hosts: localhost\n"
    assert files[f"{bundle}/boot.sh"]["permissions"] == "0755"
    fetcher = gzip.decompress(base64.b64decode(files["/run/cloud-hpc-toolkit/node_secrets.py"]["content"]))
    assert fetcher == (Path(azure_power.__file__).parent / "node_secrets.py").read_bytes()
    # the partition's boot script, its floor the head's (no SuspendExcNodes in this head's slurm.conf: none)
    boot = boot_script(azure("compute", tunables={**tunables("cpu"), "slurm_power_up_nodes": []}))
    assert files["/run/cloud-hpc-toolkit/boot.sh"]["content"] == with_variables(boot, {"slurm_always_on": []})
    assert document["runcmd"] and document["ssh_genkeytypes"] == []


def test_a_node_created_after_a_scale_renders_the_slurm_conf_of_the_head(head: Head, tmp_path: Path) -> None:
    # `invoke scale --partition cpu --min 3` merged this into the head's variables and rendered its slurm.conf
    scaled = {"slurm_always_on": ["cpu-[0-2]"], "slurm_power_up_nodes": []}
    booted = variables_of(boot_script(azure("compute", tunables=tunables("cpu"))))
    for folder in ("head", "node", "first"):
        (tmp_path / folder).mkdir()
    heads = render_slurm_conf(tmp_path / "head", {**booted, **scaled, "head_address": "10.0.0.4"})
    assert "SuspendExcNodes=cpu-[0-2]" in heads.splitlines()
    head.slurm_conf.write_text(head.slurm_conf.read_text() + "SuspendExcNodes=cpu-[0-2]\n")

    assert head.run("resume", "cpu-3").returncode == 0
    document = custom_data(head.vms()["cpu-3"])
    [boot] = [f["content"] for f in document["write_files"] if f["path"] == "/run/cloud-hpc-toolkit/boot.sh"]
    nodes = render_slurm_conf(tmp_path / "node", {**variables_of(boot), "head_address": "10.0.0.4"})
    assert nodes == heads
    # what its custom data held: the floor of the head's first boot, another slurm.conf
    assert "SuspendExcNodes=cpu-[0-1]" in render_slurm_conf(tmp_path / "first", {**booted, "head_address": "10.0.0.4"})


def test_resume_again_creates_nothing_twice(head: Head) -> None:
    assert head.run("resume", "hpc-[0-1]").returncode == 0
    created = len(head.compute.vm_puts())
    result = head.run("resume", "hpc-[0-2]")
    assert result.returncode == 0, result.stderr
    assert len(head.compute.vm_puts()) == created + 1 and sorted(head.vms()) == ["hpc-0", "hpc-1", "hpc-2"]
    assert result.stderr.count("not created again") == 2
    assert set(head.updates()) == {"hpc-0", "hpc-1", "hpc-2"}  # Slurm told every address again


def test_spot_for_every_size_then_regular_and_each_failed_vm_deleted_first(head: Head) -> None:
    head.compute.failing |= {("Standard_D4s_v5", "Spot"), ("Standard_F4s_v2", "Spot")}
    result = head.run("resume", "cpu-3")
    assert result.returncode == 0, result.stderr
    tried = [(r.body["properties"]["hardwareProfile"]["vmSize"], r.body["properties"].get("priority"),
              r.body["properties"].get("evictionPolicy")) for r in head.compute.vm_puts()]
    assert tried == [("Standard_D4s_v5", "Spot", "Delete"), ("Standard_F4s_v2", "Spot", "Delete"),
                     ("Standard_D4s_v5", None, None)]
    deletes = [r for r in head.arm.requests if r.method == "DELETE"]
    assert len(deletes) == 2  # the two VMs Azure left Failed, before the next try
    vm = head.vms()["cpu-3"]
    assert vm["properties"]["provisioningState"] == "Succeeded" and "priority" not in vm["properties"]
    assert "Standard_D4s_v5 spot: AllocationFailed" in result.stderr


def test_the_next_size_when_the_first_has_no_capacity(head: Head) -> None:
    head.compute.unavailable.add("Standard_D4s_v5")  # refused at once, 409 SkuNotAvailable
    head.compute.failing.add(("Standard_F4s_v2", "Spot"))
    result = head.run("resume", "cpu-0")
    assert result.returncode == 0, result.stderr
    vm = head.vms()["cpu-0"]
    assert vm["properties"]["hardwareProfile"]["vmSize"] == "Standard_F4s_v2" and "priority" not in vm["properties"]
    # Standard_F4s_v2 has no accelerated networking in the partition's list: its NIC goes without
    nic = vm["properties"]["networkProfile"]["networkInterfaceConfigurations"][0]
    assert nic["properties"]["enableAcceleratedNetworking"] is False


def test_a_node_azure_has_no_capacity_for_is_down_with_each_answer(head: Head) -> None:
    head.compute.failing |= {("Standard_HB120rs_v3", "Regular")}
    result = head.run("resume", "hpc-0")
    assert result.returncode == 1
    assert head.updates() == {"hpc-0": ["State=DOWN", "Reason=Azure created no VM: Standard_HB120rs_v3 regular: "
                                                      "AllocationFailed"]}
    assert head.vms() == {}  # the failed VM is not left behind


def test_suspend_deletes_exactly_this_environments_vms_of_those_nodes(head: Head) -> None:
    assert head.run("resume", "hpc-[0-2]").returncode == 0
    other = f"{RG}/providers/Microsoft.Compute/virtualMachines/cpu-0"
    head.arm.put(other, {"location": "westeurope", "tags": {"chpc:environment": "someone-else", "chpc:node": "cpu-0"},
                         "properties": {}})
    result = head.run("suspend", "hpc-[0-1],cpu-0,cpu-5")
    assert result.returncode == 1  # cpu-0's VM is not this environment's: named, left alone
    assert "VM cpu-0 in hpc-dev-rg is not tagged chpc:environment=hpc-dev: left alone" in result.stderr
    deleted = sorted(r.path.rsplit("/", 1)[1] for r in head.arm.requests if r.method == "DELETE")
    assert deleted == ["hpc-0", "hpc-1"]
    assert "suspend cpu-5: no VM left" in result.stderr
    # a resume right after waits for the deletion to end, then creates the VM again
    assert head.vms()["hpc-0"]["properties"]["provisioningState"] == "Deleting"
    assert head.run("resume", "hpc-0").returncode == 0
    assert head.vms()["hpc-0"]["properties"]["provisioningState"] == "Succeeded"
    states = {name: vm["properties"]["provisioningState"] for name, vm in head.vms().items()}
    assert states == {"cpu-0": "Succeeded", "hpc-0": "Succeeded", "hpc-1": "Deleting", "hpc-2": "Succeeded"}


def test_a_deletion_told_by_location_alone_is_waited_for_there(head: Head) -> None:
    head.compute.async_operation = False
    assert head.run("resume", "hpc-0").returncode == 0
    assert head.run("suspend", "hpc-0").returncode == 0
    assert head.run("resume", "hpc-0").returncode == 0  # waits on Location: 202, then 200 once the VM is gone
    location_polls = [r.query.get("api-version") for r in head.arm.requests if r.path.endswith("/location")]
    assert location_polls == ["2024-11-01", "2024-11-01"]
    assert head.vms()["hpc-0"]["properties"]["provisioningState"] == "Succeeded"


def test_a_hostlist_slurm_refuses_is_exit_2_and_touches_nothing(head: Head) -> None:
    result = head.run("resume", "hpc-[0-")
    assert result.returncode == 2 and "pass Slurm's hostlist of toolkit nodes" in result.stderr
    assert head.arm.requests == []


def test_no_token_sets_the_nodes_down_at_once(head: Head, arm: FakeArm) -> None:
    head.imds.client_id = "another-identity"
    result = head.run("resume", "hpc-[0-1]")
    assert result.returncode == 1 and "check the head's identity" in result.stderr
    assert set(head.updates()) == {"hpc-0", "hpc-1"} and all(u[0] == "State=DOWN" for u in head.updates().values())
    assert arm.requests == []


def test_the_program_calls_only_what_the_heads_power_role_grants(head: Head) -> None:
    from components.azure.power_role import CALLED, power_actions

    head.compute.failing.add(("Standard_D4s_v5", "Spot"))
    assert head.run("resume", "cpu-0,hpc-0").returncode == 0
    assert head.run("suspend", "cpu-0,hpc-0").returncode == 0
    called = {action_of(r.method, r.path) for r in head.arm.requests}
    assert called == CALLED
    assert CALLED <= set(power_actions())


def action_of(method: str, path: str) -> str:
    """The RBAC action a request needs (its resource type, then read, write or delete)."""
    from tests.azure.fake_arm import resource_type

    kind = resource_type(path.split("?")[0])
    if kind == "Microsoft.Compute/locations/operations" or "/operations/" in path:
        kind = "Microsoft.Compute/locations/operations"
    return f"{kind}/{ {'GET': 'read', 'PUT': 'write', 'DELETE': 'delete'}[method] }"



def test_a_config_not_the_toolkits_is_one_line_naming_the_field(head: Head) -> None:
    document = json.loads(head.config.read_text())
    for broken, said in (({k: v for k, v in document.items() if k != "client_id"}, "(no 'client_id')"),
                         ({**document, "partitions": {"cpu": {**document["partitions"]["cpu"], "vm_sizes": []}}},
                          "(partition cpu: vm_sizes must be a non-empty list of strings)"),
                         ({**document, "partitions": {}}, "names no partition")):
        with pytest.raises(azure_power.PowerError, match=re.escape(said)):
            azure_power.read_config(json.dumps(broken))
    head.config.write_text(json.dumps({**document, "environment": ""}))
    result = head.run("suspend", "hpc-0")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "(environment must be a non-empty string): redeploy the stack" in result.stderr
    assert head.arm.requests == []


def test_a_refused_creation_fails_the_node_at_once_with_azures_answer(head: Head) -> None:
    def refuse(request: Any, match: Any) -> Reply:
        return Reply(403, {"error": {"code": "AuthorizationFailed", "message": "The client does not have "
                                     "authorization to perform action 'Microsoft.Compute/virtualMachines/write'"}})

    head.arm.route("PUT", r".*/virtualMachines/[^/]+", refuse)
    result = head.run("resume", "cpu-0")
    assert result.returncode == 1
    assert head.updates() == {"cpu-0": ["State=DOWN", "Reason=Azure created no VM: Standard_D4s_v5 spot: "
                                                      "AuthorizationFailed"]}  # not every size: it is no capacity
    assert len([r for r in head.arm.requests if r.method == "PUT"]) == 1


def test_a_throttled_or_failing_request_is_sent_again_and_creates_once(head: Head) -> None:
    answers = [Reply(429, {"error": {"code": "TooManyRequests", "message": "throttled"}}),
               Reply(503, {"error": {"code": "ServiceUnavailable", "message": "try again"}})]

    def flaky(request: Any, match: Any) -> Reply:
        return answers.pop(0) if answers else head.compute._put(request, match)

    head.arm.route("PUT", VM, flaky)
    result = head.run("resume", "hpc-0")
    assert result.returncode == 0, result.stderr
    puts = head.compute.vm_puts()
    assert len(puts) == 3 and puts[0].body == puts[2].body  # the same request, sent again
    assert list(head.vms()) == ["hpc-0"] and result.stderr.count("retrying") == 2
