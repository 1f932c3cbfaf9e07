"""Slurm's ResumeProgram and SuspendProgram on Azure: create the VM of each powered-down cloud node in its
partition's Flexible scale set, named for the node, and delete the VMs of nodes Slurm found idle.

slurmctld runs this on the head with a Slurm hostlist (``gpu-[0-2],cpu-4``)::

    python3 azure_power.py --config /etc/slurm/azure-power.json resume HOSTLIST
    python3 azure_power.py --config /etc/slurm/azure-power.json suspend HOSTLIST

Standalone on purpose, like ``ec2_power.py``: it runs with the image's ``python3`` (the standard library only),
beside ``node_secrets.py`` (the head identity's token from IMDS) and ``cloud_files.py`` (the node's custom data).
Resource Manager's REST API, JSON in and out; long-running operations followed as ARM documents them (the
``Azure-AsyncOperation`` URL, else ``Location``, at the pace ``Retry-After`` asks). Slurm's hostlist is expanded by
Slurm itself (``scontrol show hostnames``).

A node's VM is named for the node in the environment's own resource group and carries ``chpc:environment`` and
``chpc:node``: a resume repeated after a slurmctld restart finds the VM and creates nothing twice, and a suspend
deletes a VM only when its tags say it is this environment's. The partition's VM sizes are tried in order when Azure
has no capacity for one (``NO_CAPACITY``), Spot first for every size (eviction deletes the VM) then regular when the
partition asks for spot. A VM whose creation failed is deleted before the next try: Azure keeps it, failed.

The custom data is the node's cloud-config, rendered here from the partition's boot script, the ansible/ bundle the
head booted from and this folder's ``node_secrets.py``: Azure's 64 KB of custom data leave the head no room to carry
the compute nodes' whole document. ``power_config`` writes the config; ``read_config`` checks it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

if __package__:
    from components.boot import cloud_files, node_secrets
else:  # on the head: the slurm role copies both beside this file
    import cloud_files
    import node_secrets

CONFIG = "/etc/slurm/azure-power.json"
SLURM_CONF = "/etc/slurm/slurm.conf"  # the head's, where SLURM_CONF names no other (as for scontrol)
ARM = "https://management.azure.com"
COMPUTE_API, NETWORK_API = "2024-11-01", "2024-05-01"  # the versions azure-native pins for these types
ENVIRONMENT_TAG, NODE_TAG = "chpc:environment", "chpc:node"
NODE = re.compile(r"(?P<partition>[a-z][a-z0-9]{0,11})-(?P<index>[0-9]+)")
# Azure's answers meaning "not this size (or priority) here, now": the next candidate may succeed. Any other error is
# the request's or the permissions' fault, the same for every size, so the node fails at once.
NO_CAPACITY = frozenset({"SkuNotAvailable", "AllocationFailed", "ZonalAllocationFailed",
                         "OverconstrainedAllocationRequest", "OverconstrainedZonalAllocationRequest",
                         "QuotaExceeded"})
RETRIED = frozenset({429, 500, 502, 503, 504})
LIVE = ("Succeeded", "Creating", "Updating")
CREATES_AT_ONCE = 8


class PowerError(Exception):
    """One line: what failed and what to check."""


class ArmError(PowerError):
    """Resource Manager refused a request or an operation failed: its error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class Transient(ArmError):
    """Throttled, a server error, or no answer: the same request may succeed when sent again."""


@dataclass(frozen=True)
class PartitionVms:
    """How a partition's VMs are made: ``template`` is a VM's body but for its size, priority, computer name and
    custom data (``vm_template`` builds it), ``accelerated`` the sizes that take accelerated networking."""

    scale_set_id: str
    vm_sizes: tuple[str, ...]
    accelerated: tuple[str, ...]
    spot: bool
    boot_script: str
    template: dict[str, Any]


@dataclass(frozen=True)
class Config:
    environment: str
    subscription_id: str
    resource_group: str
    client_id: str  # the head's identity, whose token the program uses
    bundle_dir: str  # the ansible/ folder the head booted from, which every node's custom data carries
    fetcher_path: str  # where a node's cloud-config writes node_secrets.py
    boot_path: str  # and its boot script
    partitions: dict[str, PartitionVms]


def vm_template(*, location: str, tags: dict[str, str], zone: str | None, scale_set_id: str,
                placement_group_id: str, identity_id: str, subnet_id: str, image: dict[str, str], admin_user: str,
                public_key: str, os_disk_gb: int, os_disk_type: str) -> dict[str, Any]:
    """The body every VM of a partition shares (ARM's ``Microsoft.Compute/virtualMachines`` PUT): in the scale set
    and its proximity placement group, with the nodes' identity, key-only SSH login, an OS disk and a NIC that go
    with the VM."""
    return {
        "location": location, "tags": tags, **({"zones": [zone]} if zone else {}),
        "identity": {"type": "UserAssigned", "userAssignedIdentities": {identity_id: {}}},
        "properties": {
            "virtualMachineScaleSet": {"id": scale_set_id},
            "proximityPlacementGroup": {"id": placement_group_id},
            "storageProfile": {"imageReference": image, "osDisk": {
                "createOption": "FromImage", "caching": "ReadWrite", "diskSizeGB": os_disk_gb,
                "deleteOption": "Delete", "managedDisk": {"storageAccountType": os_disk_type}}},
            "osProfile": {"adminUsername": admin_user, "linuxConfiguration": {
                "disablePasswordAuthentication": True, "provisionVMAgent": True,
                "ssh": {"publicKeys": [{"path": f"/home/{admin_user}/.ssh/authorized_keys",
                                        "keyData": public_key.strip()}]}}},
            "networkProfile": {"networkApiVersion": "2020-11-01", "networkInterfaceConfigurations": [{
                "name": "cluster", "properties": {
                    "primary": True, "deleteOption": "Delete", "enableAcceleratedNetworking": False,
                    "ipConfigurations": [{"name": "cluster", "properties": {
                        "primary": True, "subnet": {"id": subnet_id}}}]}}]},
        },
    }


def vm_body(config: Config, node: str, size: str, spot: bool, custom_data: str) -> dict[str, Any]:
    """The PUT body of ``node``'s VM: the partition's template with its size, priority, name and custom data."""
    partition = config.partitions[partition_of(node)]
    body = json.loads(json.dumps(partition.template))
    body["tags"] = {**body["tags"], ENVIRONMENT_TAG: config.environment, NODE_TAG: node}
    properties = body["properties"]
    properties["hardwareProfile"] = {"vmSize": size}
    if spot:  # evicted means gone, as a suspended node is; -1: never evicted for price, only for capacity
        properties.update(priority="Spot", evictionPolicy="Delete", billingProfile={"maxPrice": -1})
    properties["osProfile"].update(computerName=node, customData=custom_data)
    [nic] = properties["networkProfile"]["networkInterfaceConfigurations"]
    nic["properties"]["enableAcceleratedNetworking"] = size in partition.accelerated
    return body


def power_config(config: Config) -> str:
    """The config file's JSON text, checked as the program checks it when it reads it."""
    text = json.dumps(asdict(config), indent=1, sort_keys=True)
    read_config(text)
    return text


def read_config(text: str) -> Config:
    """The config from its JSON text; a wrong shape is one line naming the field."""
    try:
        document = json.loads(text)
        partitions = {name: _partition(name, fields) for name, fields in document["partitions"].items()}
        fields = _strings(document, ("environment", "subscription_id", "resource_group", "client_id", "bundle_dir",
                                     "fetcher_path", "boot_path"))
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        why = f"no {error}" if isinstance(error, KeyError) else str(error)
        raise PowerError(f"the power config is not the toolkit's ({why}): redeploy the stack") from None
    if not partitions:
        raise PowerError("the power config names no partition: redeploy the stack")
    return Config(partitions=partitions, **fields)


def _strings(fields: dict[str, Any], keys: Sequence[str]) -> dict[str, str]:
    """``fields``' values of ``keys``, each a non-empty string (KeyError for a missing one)."""
    found = {key: fields[key] for key in keys}
    for key, value in found.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"{key} must be a non-empty string")
    return found


def _partition(name: str, fields: dict[str, Any]) -> PartitionVms:
    if not NODE.fullmatch(f"{name}-0"):
        raise ValueError(f"partition name {name!r}: a lowercase letter, then up to 11 lowercase letters or digits")
    sizes, accelerated, spot, template = (fields["vm_sizes"], fields["accelerated"], fields["spot"],
                                          fields["template"])
    if not isinstance(sizes, list) or not sizes or not all(isinstance(s, str) and s for s in sizes):
        raise ValueError(f"partition {name}: vm_sizes must be a non-empty list of strings")
    if not isinstance(accelerated, list) or not set(accelerated) <= set(sizes):
        raise ValueError(f"partition {name}: accelerated must list some of its vm_sizes")
    if not isinstance(spot, bool):
        raise ValueError(f"partition {name}: spot must be true or false")
    if not isinstance(template, dict) or not isinstance(template.get("properties"), dict):
        raise ValueError(f"partition {name}: template must be a VM body")
    named = _strings(fields, ("scale_set_id", "boot_script"))
    return PartitionVms(named["scale_set_id"], tuple(sizes), tuple(accelerated), spot, named["boot_script"], template)


def partition_of(node: str) -> str:
    match = NODE.fullmatch(node)
    if not match:
        raise PowerError(f"node {node}: not a toolkit node name (<partition>-<index>)")
    return match["partition"]


def head_floor(slurm_conf: str) -> dict[str, object]:
    """The floor the head's slurmctld runs with (its slurm.conf's ``SuspendExcNodes``, which `invoke scale` moves)
    as the slurm role's variables: a node created now renders the same line, so its slurm.conf is the head's. The
    partitions' boot scripts came with the head's custom data, which holds the floor of the head's first boot."""
    found = re.search(r"^SuspendExcNodes=(.+)$", slurm_conf, re.M)
    return {"slurm_always_on": [found[1].strip()] if found else [], "slurm_power_up_nodes": []}


def with_head_floor(config: Config, slurm_conf: str) -> Config:
    """``config`` whose partitions' boot scripts carry the head's floor now (``head_floor``)."""
    floor = head_floor(slurm_conf)
    return replace(config, partitions={
        name: replace(vms, boot_script=cloud_files.with_variables(vms.boot_script, floor))
        for name, vms in config.partitions.items()})


def custom_data(config: Config, node: str, fetcher: bytes) -> str:
    """``node``'s custom data: its partition's cloud-config, with the head's bundle and secrets fetcher."""
    files = cloud_files.folder_files(Path(config.bundle_dir), config.bundle_dir)
    return cloud_files.custom_data(cloud_files.document(files, config.fetcher_path, fetcher, config.boot_path,
                                                        config.partitions[partition_of(node)].boot_script))


class Arm:
    """Resource Manager's REST API with the head identity's bearer token."""

    def __init__(self, endpoint: str, token: str, pause: float = 5.0, timeout: float = 1800.0) -> None:
        self.endpoint, self.token, self.pause, self.timeout = endpoint.rstrip("/"), token, pause, timeout
        self._opener = urllib.request.build_opener()

    def call(self, method: str, path: str, api_version: str, body: dict[str, Any] | None = None,
             ) -> tuple[int, dict[str, str], Any]:
        """Status, headers and JSON answer; throttling and server errors are retried (a PUT of the same body and a
        DELETE are idempotent), any other error raised as ArmError."""
        url = path if path.startswith("https://") or path.startswith("http://") else \
            f"{self.endpoint}{path}?api-version={api_version}"
        attempt = 0
        while True:
            try:
                return self._send(method, url, body)
            except Transient as error:
                if attempt == 3:
                    raise ArmError("ServiceUnavailable", str(error)) from None
                log(f"{method} {path.split('?')[0]}: {error}; retrying")
                time.sleep(self.pause * 2 ** attempt)
                attempt += 1

    def _send(self, method: str, url: str, body: dict[str, Any] | None) -> tuple[int, dict[str, str], Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}", **({"Content-Type": "application/json"} if data else {})}
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=60) as response:
                raw = response.read()
                return response.status, dict(response.headers.items()), json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            if error.code in RETRIED:
                raise Transient(f"HTTP{error.code}", raw.decode(errors="replace")[:200]) from None
            raise _arm_error(error.code, raw) from None
        except (urllib.error.URLError, OSError) as error:
            raise Transient("Unreachable", f"{url.split('?')[0]}: {error}") from None

    def wait(self, headers: dict[str, str], what: str) -> None:
        """Follow a long-running operation to its end: ``Azure-AsyncOperation`` (its ``status``) when given, else
        ``Location`` (202 while it runs); a failed one raises its error."""
        lowered = {key.lower(): value for key, value in headers.items()}
        status_url, location = lowered.get("azure-asyncoperation"), lowered.get("location")
        end = time.monotonic() + self.timeout
        while status_url or location:
            time.sleep(_seconds(lowered.get("retry-after"), self.pause))
            if time.monotonic() > end:
                raise PowerError(f"{what}: still running after {self.timeout:g} s")
            status, lowered_new, answer = self.call("GET", status_url or location or "", "")
            lowered = {key.lower(): value for key, value in lowered_new.items()}
            if status_url:
                state = (answer or {}).get("status", "")
                if state == "Succeeded":
                    return
                if state in ("Failed", "Canceled"):
                    error = (answer or {}).get("error") or {}
                    raise _error_of(error, state)
            elif status != 202:
                return


def _seconds(retry_after: str | None, otherwise: float) -> float:
    """The wait a ``Retry-After`` header asks (seconds), else ``otherwise``."""
    try:
        return max(0.0, float(retry_after)) if retry_after is not None else otherwise
    except ValueError:  # an HTTP date, which ARM does not send for operations
        return otherwise


def _arm_error(status: int, raw: bytes) -> ArmError:
    try:
        error = json.loads(raw).get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not error:
        return ArmError(f"HTTP{status}", raw.decode(errors="replace")[:200])
    return _error_of(error, f"HTTP{status}")


def _error_of(error: dict[str, Any], fallback: str) -> ArmError:
    """The error's code, or a detail's where the outer one is generic and a detail says what (capacity)."""
    codes = [error.get("code") or fallback, *(d.get("code", "") for d in error.get("details") or [])]
    code = next((c for c in codes if c in NO_CAPACITY), codes[0])
    return ArmError(code, " ".join(str(error.get("message", "")).split())[:300])


def vm_path(config: Config, node: str) -> str:
    return (f"/subscriptions/{config.subscription_id}/resourceGroups/{config.resource_group}"
            f"/providers/Microsoft.Compute/virtualMachines/{node}")


def find_vm(arm: Arm, config: Config, node: str) -> dict[str, Any] | None:
    """``node``'s VM, None when there is none; PowerError when the name is another environment's."""
    try:
        _, _, vm = arm.call("GET", vm_path(config, node), COMPUTE_API)
    except ArmError as error:
        if error.code in ("ResourceNotFound", "NotFound", "HTTP404"):
            return None
        raise
    if (vm.get("tags") or {}).get(ENVIRONMENT_TAG) != config.environment:
        raise PowerError(f"VM {node} in {config.resource_group} is not tagged {ENVIRONMENT_TAG}="
                         f"{config.environment}: left alone")
    return vm


def delete_vm(arm: Arm, config: Config, node: str, wait: bool) -> None:
    """Delete ``node``'s VM (its disk and NIC go with it), waiting for it to be gone when ``wait``."""
    _, headers, _ = arm.call("DELETE", vm_path(config, node), COMPUTE_API)
    if wait:
        arm.wait(headers, f"deleting VM {node}")


def create(arm: Arm, config: Config, node: str, fetcher: bytes) -> str:
    """Create ``node``'s VM with the first size (and priority) Azure has capacity for; returns what it was.
    PowerError says, in one line, what Azure answered to each."""
    partition = config.partitions[partition_of(node)]
    data = custom_data(config, node, fetcher)
    answers: list[str] = []
    for spot in ((True, False) if partition.spot else (False,)):
        for size in partition.vm_sizes:
            label = f"{size} {'spot' if spot else 'regular'}"
            try:
                _, headers, _ = arm.call("PUT", vm_path(config, node), COMPUTE_API,
                                         vm_body(config, node, size, spot, data))
                arm.wait(headers, f"creating VM {node}")
            except ArmError as error:
                answers.append(f"{label}: {error.code}")
                log(f"resume {node}: {label}: {error}")
                try:
                    if find_vm(arm, config, node) is not None:  # Azure keeps a VM whose creation failed
                        delete_vm(arm, config, node, wait=True)
                except PowerError as left:
                    answers.append(f"the failed VM could not be deleted ({left})")
                    raise PowerError("Azure created no VM: " + "; ".join(answers)) from None
                if error.code not in NO_CAPACITY:
                    raise PowerError("Azure created no VM: " + "; ".join(answers)) from None
                continue
            log(f"resume {node}: created VM {node} ({label})")
            return label
    raise PowerError("Azure created no VM: " + "; ".join(answers))


def private_address(arm: Arm, vm: dict[str, Any]) -> str:
    """The primary NIC's private address of ``vm``."""
    nics = vm["properties"]["networkProfile"]["networkInterfaces"]
    primary = next((n for n in nics if (n.get("properties") or {}).get("primary")), nics[0])
    _, _, nic = arm.call("GET", primary["id"], NETWORK_API)
    configurations = nic["properties"]["ipConfigurations"]
    first = next((c for c in configurations if (c.get("properties") or {}).get("primary")), configurations[0])
    return first["properties"]["privateIPAddress"]


def _start(arm: Arm, config: Config, node: str, fetcher: bytes) -> str:
    """``node``'s private address once its VM exists (created now or before)."""
    if partition_of(node) not in config.partitions:
        raise PowerError(f"no partition {partition_of(node)} in the power config")
    vm = find_vm(arm, config, node)
    state = ((vm or {}).get("properties") or {}).get("provisioningState")
    if vm is not None and state in LIVE:
        log(f"resume {node}: VM {node} already {state}; not created again")
    else:
        if vm is not None:  # failed, or still being deleted after a suspend
            log(f"resume {node}: VM {node} is {state}; deleting it first")
            delete_vm(arm, config, node, wait=True)
        create(arm, config, node, fetcher)
        vm = find_vm(arm, config, node)
        if vm is None:
            raise PowerError(f"VM {node} is gone right after its creation")
    return private_address(arm, vm)


def _outcome(arm: Arm, config: Config, node: str, fetcher: bytes) -> str | PowerError:
    try:
        return _start(arm, config, node, fetcher)
    except PowerError as error:
        return error


def scontrol(*arguments: str) -> None:
    """``scontrol update ...`` (found on PATH); a refusal is logged, the other nodes go on."""
    result = subprocess.run(["scontrol", "update", *arguments], capture_output=True, text=True, check=False)
    if result.returncode:
        log(f"scontrol update {' '.join(arguments)}: {(result.stderr or result.stdout).strip()}")


def set_down(node: str, reason: str) -> None:
    """Tell Slurm ``node`` did not start, and why (one line)."""
    log(f"resume {node}: DOWN: {reason}")
    scontrol(f"NodeName={node}", "State=DOWN", f"Reason={' '.join(reason.split())}")


def resume(arm: Arm, config: Config, nodes: Sequence[str], fetcher: bytes) -> int:
    """Create every node's VM that does not exist, tell Slurm each one's address; a node that cannot start is set
    DOWN with Azure's answers as the reason. 0 when every node has its address, 1 otherwise."""
    with ThreadPoolExecutor(CREATES_AT_ONCE) as pool:
        outcomes = dict(zip(nodes, pool.map(lambda node: _outcome(arm, config, node, fetcher), nodes), strict=True))
    failed = 0
    for node, outcome in outcomes.items():
        if isinstance(outcome, PowerError):
            set_down(node, str(outcome))
            failed += 1
        else:
            log(f"resume {node}: at {outcome}")
            scontrol(f"NodeName={node}", f"NodeAddr={outcome}", f"NodeHostname={node}")
    return 1 if failed else 0


def suspend(arm: Arm, config: Config, nodes: Sequence[str]) -> int:
    """Delete the VMs of ``nodes`` that are this environment's (not waiting: a resume of the same node waits for
    the deletion to end). 1 when one could not be deleted."""
    failed = 0
    for node in nodes:
        try:
            if find_vm(arm, config, node) is None:
                log(f"suspend {node}: no VM left")
                continue
            delete_vm(arm, config, node, wait=False)
            log(f"suspend {node}: deleting VM {node}")
        except PowerError as error:
            log(f"suspend {node}: {error}")
            failed += 1
    return 1 if failed else 0


def hostnames(hostlist: str) -> list[str]:
    """Slurm's hostlist as the names it stands for, expanded by Slurm (``scontrol show hostnames``)."""
    result = subprocess.run(["scontrol", "show", "hostnames", hostlist], capture_output=True, text=True, check=False)
    if result.returncode or "Invalid hostlist" in result.stdout + result.stderr:  # which it says with exit 0
        raise PowerError(f"scontrol show hostnames {hostlist}: {(result.stderr or result.stdout).strip()}")
    return list(dict.fromkeys(result.stdout.split()))


def log(line: str) -> None:
    print(f"azure-power: {line}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=CONFIG, help=f"the power config (default {CONFIG})")
    parser.add_argument("--arm", default=ARM, help=f"Resource Manager's endpoint (default {ARM})")
    parser.add_argument("--imds", default=node_secrets.IMDS,
                        help=f"the instance metadata service (default {node_secrets.IMDS})")
    parser.add_argument("--pause", type=float, default=5.0,
                        help="seconds between polls of an operation whose answer has no Retry-After, and the first "
                             "pause before a retried request (default 5)")
    parser.add_argument("action", choices=("resume", "suspend"), help="start or stop the nodes")
    parser.add_argument("hostlist", help="Slurm's hostlist of the nodes, e.g. gpu-[0-2],cpu-4")
    args = parser.parse_args(argv)
    try:
        nodes = hostnames(args.hostlist)
        for node in nodes:
            partition_of(node)
    except PowerError as error:
        print(f"azure-power {args.action}: {error}: pass Slurm's hostlist of toolkit nodes", file=sys.stderr)
        return 2
    try:
        with open(args.config, encoding="utf-8") as file:
            config = read_config(file.read())
        if args.action == "resume":  # the VMs it creates boot with the head's floor now
            config = with_head_floor(config, Path(os.environ.get("SLURM_CONF", SLURM_CONF)).read_text(encoding="utf-8"))
        fetcher = (Path(__file__).resolve().parent / "node_secrets.py").read_bytes()
        arm = Arm(args.arm, node_secrets.azure_token(ARM + "/", config.client_id, args.imds), pause=args.pause)
    except (OSError, PowerError, node_secrets.FetchError, KeyError, ValueError) as error:
        reason = f"azure-power could not start ({error})"
        print(f"azure-power {args.action} {args.hostlist}: {reason}: check the head's identity, {args.config} and "
              "slurm.conf", file=sys.stderr)
        if args.action == "resume":  # Slurm learns now, not when its ResumeTimeout ends
            for node in nodes:
                set_down(node, reason)
        return 1
    return resume(arm, config, nodes, fetcher) if args.action == "resume" else suspend(arm, config, nodes)


if __name__ == "__main__":
    sys.exit(main())
