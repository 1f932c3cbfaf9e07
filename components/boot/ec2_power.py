"""Slurm's ResumeProgram and SuspendProgram on AWS: start the EC2 instances of powered-down cloud nodes, and
terminate those of nodes Slurm found idle.

slurmctld runs this on the head with a Slurm hostlist (``gpu-[0-2],compute-4``)::

    python3 ec2_power.py --config /etc/slurm/ec2-power.json resume HOSTLIST
    python3 ec2_power.py --config /etc/slurm/ec2-power.json suspend HOSTLIST

Standalone on purpose, like ``node_secrets.py``, whose SigV4 signing and IMDSv2 credentials it uses: both files
are to sit side by side on the head (the cloud-config writes them; that wiring is a later step) and run with the
image's ``python3``: the standard library only, EC2's Query API with XML answers, the head's instance role's
credentials. Instances are found by their tags, never remembered here: ``chpc:environment`` (the environment's name)
and ``chpc:node`` (Slurm's node name), so a resume repeated after a slurmctld restart launches nothing twice, and a
suspend never touches another environment. A launch names its subnet on the request's primary network interface:
the partitions' templates carry their security groups (and EFA) on their interfaces, which an instance-level
``SubnetId`` would conflict with.

The config (``power_config`` builds it; the stack writes it)::

    {"region": "eu-west-3", "environment": "hpc-dev",
     "partitions": {"<partition>": {"launch_template_id": "lt-…", "launch_template_version": "$Latest" or "<n>",
                                    "instance_types": ["c5n.18xlarge", …],  # in order of preference
                                    "spot": false, "subnet_ids": ["subnet-…", …]}}}

Node names are ``<partition>-<index>``. Each line logged to stderr is one action (slurmctld keeps it in its log).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

if __package__:
    from components.boot import node_secrets
else:  # on the head: the cloud-config writes node_secrets.py beside this file
    import node_secrets

API_VERSION = "2016-11-15"
CONFIG = "/etc/slurm/ec2-power.json"
ENVIRONMENT_TAG, NODE_TAG = "chpc:environment", "chpc:node"
PARTITION = re.compile(r"[a-z][a-z0-9]{0,11}")
RANGE = re.compile(r"(?P<low>[0-9]+)(?:-(?P<high>[0-9]+))?")
NODE = re.compile(rf"(?P<partition>{PARTITION.pattern})-(?P<index>[0-9]+)")
# EC2's answers meaning "not this type (or market) here, now": the next candidate may succeed. Any other error is
# the request's or the permissions' fault, the same for every type, so the node fails at once.
NO_CAPACITY = frozenset({
    "InsufficientInstanceCapacity", "InsufficientHostCapacity", "InsufficientReservedInstanceCapacity",
    "InsufficientCapacity", "UnfulfillableCapacity", "InstanceLimitExceeded", "VcpuLimitExceeded",
    "MaxSpotInstanceCountExceeded", "SpotMaxPriceTooLow", "Unsupported"})
THROTTLED = frozenset({"RequestLimitExceeded", "ServiceUnavailable", "InternalError", "Unavailable"})
LIVE, NOT_GONE = ("pending", "running"), ("pending", "running", "stopping", "stopped")
LAUNCHES_AT_ONCE = 8  # RunInstances round trips in flight: a 64-node job waits for 8 of them, not 64
FILTER_VALUES = 100  # node names per DescribeInstances filter, well under EC2's limit on a filter's values


class PowerError(Exception):
    """One line: what failed and what to check."""


class Ec2Error(PowerError):
    """EC2 refused a request: its error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class PartitionLaunch:
    """How a partition's nodes are launched."""

    launch_template_id: str
    instance_types: tuple[str, ...]
    subnet_ids: tuple[str, ...]
    spot: bool = False
    launch_template_version: str = "$Latest"


@dataclass(frozen=True)
class Config:
    region: str
    environment: str
    partitions: dict[str, PartitionLaunch]


def power_config(region: str, environment: str, partitions: dict[str, PartitionLaunch]) -> str:
    """The config file's JSON text, checked as the program checks it when it reads it."""
    document = {"region": region, "environment": environment,
                "partitions": {name: {"launch_template_id": launch.launch_template_id,
                                      "launch_template_version": launch.launch_template_version,
                                      "instance_types": list(launch.instance_types), "spot": launch.spot,
                                      "subnet_ids": list(launch.subnet_ids)}
                               for name, launch in partitions.items()}}
    text = json.dumps(document, indent=2, sort_keys=True)
    read_config(text)
    return text


def read_config(text: str) -> Config:
    """The config from its JSON text; a wrong shape is one line naming the field."""
    try:
        document = json.loads(text)
        region, environment = _text(document, "region"), _text(document, "environment")
        partitions = {name: _partition(name, fields) for name, fields in document["partitions"].items()}
    except KeyError as error:
        raise PowerError(f"the power config is not the toolkit's (no {error}): redeploy the stack") from None
    except (ValueError, TypeError, AttributeError) as error:
        raise PowerError(f"the power config is not the toolkit's ({error}): redeploy the stack") from None
    if not partitions:
        raise PowerError("the power config names no partition: redeploy the stack")
    return Config(region, environment, partitions)


def _text(fields: dict[str, object], key: str) -> str:
    value = fields[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string")
    return value


def _partition(name: str, fields: dict[str, object]) -> PartitionLaunch:
    if not PARTITION.fullmatch(name):
        raise ValueError(f"partition name {name!r}: a lowercase letter, then up to 11 lowercase letters or digits")
    version = _text(fields, "launch_template_version")
    if version != "$Latest" and not re.fullmatch("[0-9]+", version):
        raise ValueError(f"partition {name}: launch_template_version is $Latest or a number")
    types, subnets, spot = fields["instance_types"], fields["subnet_ids"], fields["spot"]
    for key, values in (("instance_types", types), ("subnet_ids", subnets)):
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
            raise ValueError(f"partition {name}: {key} must be a non-empty list of strings")
    if not isinstance(spot, bool):
        raise ValueError(f"partition {name}: spot must be true or false")
    return PartitionLaunch(_text(fields, "launch_template_id"), tuple(types), tuple(subnets), spot, version)


def expand_hostlist(hostlist: str) -> list[str]:
    """Slurm's hostlist as the names it stands for, in order (``a-[0-3,7],b-1``; ``n-[01-10]`` keeps the lower
    bound's width, as ``scontrol show hostnames`` does). A malformed list raises ValueError."""
    names: list[str] = []
    for item in _top_level_items(hostlist):
        names.extend(_expand_item(item))
    return names


def _top_level_items(hostlist: str) -> Iterator[str]:
    depth, start = 0, 0
    for position, char in enumerate(hostlist):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth not in (0, 1):
            raise ValueError(f"hostlist {hostlist!r}: unbalanced brackets")
        if char == "," and depth == 0:
            yield _item(hostlist, start, position)
            start = position + 1
    if depth:
        raise ValueError(f"hostlist {hostlist!r}: unbalanced brackets")
    yield _item(hostlist, start, len(hostlist))


def _item(hostlist: str, start: int, end: int) -> str:
    item = hostlist[start:end]
    if not item:
        raise ValueError(f"hostlist {hostlist!r}: an empty name")
    return item


def _expand_item(item: str) -> list[str]:
    opening = item.find("[")
    if opening < 0:
        if "]" in item:
            raise ValueError(f"hostlist item {item!r}: unbalanced brackets")
        return [item]
    closing = item.index("]", opening)
    head, ranges, tail = item[:opening], item[opening + 1:closing], item[closing + 1:]
    return [head + number + rest for number in _numbers(ranges, item) for rest in _expand_item(tail)]


def _numbers(ranges: str, item: str) -> list[str]:
    numbers: list[str] = []
    for part in ranges.split(","):
        bounds = RANGE.fullmatch(part)
        if not bounds or int(bounds["high"] or bounds["low"]) < int(bounds["low"]):
            raise ValueError(f"hostlist item {item!r}: {part!r} is not a range of numbers")
        low = bounds["low"]
        numbers.extend(f"{value:0{len(low)}d}" for value in range(int(low), int(bounds["high"] or low) + 1))
    return numbers


class Ec2:
    """EC2's Query API in one region, signed with the instance role's credentials (SigV4)."""

    def __init__(self, endpoint: str, region: str, credentials: dict[str, str], pause: float = 1.0) -> None:
        self.endpoint, self.region, self.credentials, self.pause = endpoint.rstrip("/"), region, credentials, pause
        self._opener = urllib.request.build_opener()

    def call(self, action: str, parameters: dict[str, str]) -> ElementTree.Element:
        """The answer's XML (namespaces dropped). Throttling and server errors are retried with the same
        parameters, so a ``ClientToken`` in them keeps a retried launch from launching twice."""
        body = urllib.parse.urlencode({"Action": action, "Version": API_VERSION, **parameters}).encode()
        attempt = 0
        while True:
            try:
                return _plain(ElementTree.fromstring(self._post(body)))
            except Ec2Error as error:
                if error.code not in THROTTLED or attempt == 3:
                    raise
                log(f"{action}: {error.code}; retrying")
                time.sleep(self.pause * 2 ** attempt)
                attempt += 1

    def _post(self, body: bytes) -> bytes:
        headers = node_secrets.sigv4_headers(
            self.endpoint, body, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, self.region,
            "ec2", self.credentials, datetime.datetime.now(datetime.UTC))
        request = urllib.request.Request(self.endpoint + "/", data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=30) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            raise _ec2_error(error.code, error.read()) from None
        except (urllib.error.URLError, OSError) as error:
            raise Ec2Error("Unavailable", f"{self.endpoint}: {error}") from None


def _ec2_error(status: int, body: bytes) -> Ec2Error:
    try:
        error = _plain(ElementTree.fromstring(body)).find("Errors/Error")
    except ElementTree.ParseError:
        error = None
    if error is None:
        return Ec2Error("ServiceUnavailable" if status >= 500 else f"HTTP{status}",
                        body.decode(errors="replace")[:200])
    return Ec2Error(error.findtext("Code", "Unknown"), " ".join(error.findtext("Message", "").split()))


def _plain(root: ElementTree.Element) -> ElementTree.Element:
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    return root


@dataclass(frozen=True)
class Instance:
    instance_id: str
    node: str
    state: str
    private_ip: str | None


def _instances(answer: ElementTree.Element, path: str) -> list[Instance]:
    found = []
    for item in answer.iterfind(path):
        tags = {tag.findtext("key"): tag.findtext("value") for tag in item.iterfind("tagSet/item")}
        found.append(Instance(item.findtext("instanceId", ""), tags.get(NODE_TAG) or "",
                              item.findtext("instanceState/name", ""), item.findtext("privateIpAddress") or None))
    return found


def tagged_instances(ec2: Ec2, environment: str, nodes: Sequence[str], states: Sequence[str]) -> list[Instance]:
    """The instances tagged with ``environment`` and one of ``nodes``, in one of ``states``."""
    found: list[Instance] = []
    for start in range(0, len(nodes), FILTER_VALUES):
        filters = {"Filter.1.Name": f"tag:{ENVIRONMENT_TAG}", "Filter.1.Value.1": environment,
                   "Filter.2.Name": f"tag:{NODE_TAG}", "Filter.3.Name": "instance-state-name",
                   **{f"Filter.2.Value.{i}": node for i, node in enumerate(nodes[start:start + FILTER_VALUES], 1)},
                   **{f"Filter.3.Value.{i}": state for i, state in enumerate(states, 1)}}
        token = ""
        while True:
            answer = ec2.call("DescribeInstances", {**filters, **({"NextToken": token} if token else {})})
            found.extend(_instances(answer, "reservationSet/item/instancesSet/item"))
            token = answer.findtext("nextToken") or ""
            if not token:
                break
    return found


def launch_requests(config: Config, node: str, run_id: str) -> Iterator[tuple[str, dict[str, str]]]:
    """What to ask EC2 for ``node``, in order, each with a label for the log: spot first when the partition asks
    for it (every type), then on-demand (every type); each type in every subnet of the partition."""
    launch = config.partitions[_partition_of(node)]
    tagging: dict[str, str] = {}
    for spec, kind in ((1, "instance"), (2, "volume")):
        tagging[f"TagSpecification.{spec}.ResourceType"] = kind
        for index, (key, value) in enumerate(((ENVIRONMENT_TAG, config.environment), (NODE_TAG, node),
                                              ("Name", f"{config.environment}-{node}")), 1):
            tagging[f"TagSpecification.{spec}.Tag.{index}.Key"] = key
            tagging[f"TagSpecification.{spec}.Tag.{index}.Value"] = value
    for market in (("spot", "on-demand") if launch.spot else ("on-demand",)):
        for instance_type in launch.instance_types:
            for subnet in launch.subnet_ids:
                label = f"{instance_type} {market}" + (f" in {subnet}" if len(launch.subnet_ids) > 1 else "")
                token = hashlib.sha256(f"{config.environment}/{node}/{label}/{run_id}".encode()).hexdigest()[:64]
                yield label, {
                    "LaunchTemplate.LaunchTemplateId": launch.launch_template_id,
                    "LaunchTemplate.Version": launch.launch_template_version,
                    "InstanceType": instance_type, "MinCount": "1", "MaxCount": "1", "ClientToken": token,
                    # on the primary interface: the template's interfaces carry the security groups (and EFA)
                    "NetworkInterface.1.DeviceIndex": "0", "NetworkInterface.1.SubnetId": subnet,
                    **({"InstanceMarketOptions.MarketType": "spot"} if market == "spot" else {}),
                    **tagging}


def _partition_of(node: str) -> str:
    match = NODE.fullmatch(node)
    if not match:
        raise PowerError(f"node {node}: not a toolkit node name (<partition>-<index>)")
    return match["partition"]


def launch(ec2: Ec2, config: Config, node: str, run_id: str) -> Instance:
    """One instance for ``node``: the first request EC2 has capacity for; else PowerError saying, in one line,
    what EC2 answered to each."""
    answers: list[str] = []
    for label, parameters in launch_requests(config, node, run_id):
        try:
            [instance] = _instances(ec2.call("RunInstances", parameters), "instancesSet/item")
        except Ec2Error as error:
            answers.append(f"{label}: {error.code}")
            log(f"resume {node}: {label}: {error}")
            if error.code not in NO_CAPACITY:
                break
            continue
        log(f"resume {node}: launched {instance.instance_id} ({label})")
        return Instance(instance.instance_id, node, instance.state, instance.private_ip)
    raise PowerError("EC2 started no instance: " + "; ".join(answers))


def wait_for_addresses(ec2: Ec2, config: Config, instances: dict[str, Instance], timeout: float,
                       pause: float = 2.0) -> dict[str, str]:
    """Each node's private IP, once EC2 reports it (at most ``timeout`` seconds)."""
    addresses = {node: instance.private_ip for node, instance in instances.items() if instance.private_ip}
    end = time.monotonic() + timeout
    while len(addresses) < len(instances) and time.monotonic() < end:
        time.sleep(pause)
        waiting = sorted(set(instances) - set(addresses))
        for instance in tagged_instances(ec2, config.environment, waiting, LIVE):
            if instance.private_ip and instance.instance_id == instances[instance.node].instance_id:
                addresses[instance.node] = instance.private_ip
    return addresses


def scontrol(*arguments: str) -> None:
    """``scontrol update ...`` (found on PATH); a refusal is logged, the other nodes go on."""
    result = subprocess.run(["scontrol", "update", *arguments], capture_output=True, text=True, check=False)
    if result.returncode:
        log(f"scontrol update {' '.join(arguments)}: {(result.stderr or result.stdout).strip()}")


def _start(ec2: Ec2, config: Config, node: str, run_id: str) -> Instance | PowerError:
    """``node``'s new instance, or why it has none."""
    try:
        if _partition_of(node) not in config.partitions:
            raise PowerError(f"no partition {_partition_of(node)} in the power config")
        return launch(ec2, config, node, run_id)
    except PowerError as error:
        return error


def set_down(node: str, reason: str) -> None:
    """Tell Slurm ``node`` did not start, and why (one line)."""
    log(f"resume {node}: DOWN: {reason}")
    scontrol(f"NodeName={node}", "State=DOWN", f"Reason={' '.join(reason.split())}")


def resume(ec2: Ec2, config: Config, nodes: Sequence[str], timeout: float) -> int:
    """Start every node that has no live instance, tell Slurm each one's address; a node that cannot start is
    set DOWN with EC2's answers as the reason. 0 when every node has its address, 1 otherwise."""
    running = {instance.node: instance for instance in tagged_instances(ec2, config.environment, nodes, LIVE)}
    missing = [node for node in nodes if node not in running]
    run_id = uuid.uuid4().hex
    with ThreadPoolExecutor(LAUNCHES_AT_ONCE) as pool:
        started = dict(zip(missing, pool.map(lambda node: _start(ec2, config, node, run_id), missing), strict=True))
    instances: dict[str, Instance] = {}
    failed: dict[str, str] = {}
    for node in nodes:
        if node in running:
            log(f"resume {node}: {running[node].instance_id} already {running[node].state}; not launched again")
            instances[node] = running[node]
            continue
        outcome = started[node]
        if isinstance(outcome, Instance):
            instances[node] = outcome
        else:
            failed[node] = str(outcome)
    addresses = wait_for_addresses(ec2, config, instances, timeout)
    for node in instances:
        if node in addresses:
            log(f"resume {node}: {instances[node].instance_id} at {addresses[node]}")
            scontrol(f"NodeName={node}", f"NodeAddr={addresses[node]}", f"NodeHostname={node}")
        else:
            failed[node] = f"{instances[node].instance_id} had no private IP after {timeout:g} s"
    for node, reason in failed.items():
        set_down(node, reason)
    return 1 if failed else 0


def suspend(ec2: Ec2, config: Config, nodes: Sequence[str]) -> int:
    """Terminate the instances of ``nodes`` in this environment (none left: nothing to do)."""
    instances = tagged_instances(ec2, config.environment, nodes, NOT_GONE)
    for start in range(0, len(instances), FILTER_VALUES):
        batch = instances[start:start + FILTER_VALUES]
        ec2.call("TerminateInstances", {f"InstanceId.{i}": instance.instance_id
                                        for i, instance in enumerate(batch, 1)})
        for instance in batch:
            log(f"suspend {instance.node}: terminating {instance.instance_id}")
    if not instances:
        log(f"suspend: no instance left for {','.join(nodes)}")
    return 0


def log(line: str) -> None:
    print(f"ec2-power: {line}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=CONFIG, help=f"the power config (default {CONFIG})")
    parser.add_argument("--endpoint-url", help="EC2's endpoint (default: the config region's public endpoint)")
    parser.add_argument("--imds", default=node_secrets.IMDS,
                        help=f"the instance metadata service (default {node_secrets.IMDS})")
    parser.add_argument("--address-timeout", type=float, default=300,
                        help="seconds to wait for new instances' private IPs (default 300)")
    parser.add_argument("action", choices=("resume", "suspend"), help="start or stop the nodes")
    parser.add_argument("hostlist", help="Slurm's hostlist of the nodes, e.g. gpu-[0-2],compute-4")
    args = parser.parse_args(argv)
    try:
        nodes = list(dict.fromkeys(expand_hostlist(args.hostlist)))
        for node in nodes:
            _partition_of(node)
    except (ValueError, PowerError) as error:
        print(f"ec2-power {args.action}: {error}: pass Slurm's hostlist of toolkit nodes", file=sys.stderr)
        return 2
    try:
        with open(args.config, encoding="utf-8") as file:
            config = read_config(file.read())
        endpoint = args.endpoint_url or f"https://ec2.{config.region}.amazonaws.com"
        ec2 = Ec2(endpoint, config.region, node_secrets.aws_credentials(args.imds))
    except (OSError, PowerError, node_secrets.FetchError) as error:
        reason = f"ec2-power could not reach EC2 ({error})"
        print(f"ec2-power {args.action} {args.hostlist}: {reason}: check the head's instance role and "
              f"{args.config}", file=sys.stderr)
        if args.action == "resume":  # Slurm learns now, not when its ResumeTimeout ends
            for node in nodes:
                set_down(node, reason)
        return 1
    try:
        return resume(ec2, config, nodes, args.address_timeout) if args.action == "resume" else \
            suspend(ec2, config, nodes)
    except PowerError as error:
        print(f"ec2-power {args.action} {args.hostlist}: {error}: check the head's instance role", file=sys.stderr)
        return 1

if __name__ == "__main__":
    sys.exit(main())
