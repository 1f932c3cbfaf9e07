"""Slurm's resume and suspend programs on AWS, for real: ``components/boot/ec2_power.py`` run by the system's
``python3`` with the command line slurmctld runs, against a ``moto_server``, with the head's credentials from a
local IMDSv2; what exists afterwards is read with boto3. ``scontrol`` is the one fake (Slurm is not under test
here): first on PATH, it records its arguments. EC2's capacity errors, which moto never gives, come from a small
proxy in front of moto_server that answers chosen RunInstances requests with EC2's real error document and passes
every other request through unchanged.

The hostlist expansion is checked against Slurm's own ``scontrol show hostnames`` (the real one, with a minimal
slurm.conf), for lists hypothesis makes up.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.aws.power_policy import head_power_policy
from components.boot import ec2_power
from components.boot.ec2_power import PartitionLaunch, expand_hostlist, power_config
from tests.aws import moto_fixture, test_boot_secrets
from tests.aws.moto_server import REGION, MotoSession
from tests.aws.test_boot_secrets import PYTHON3
from tests.boot.fake_imds import SESSION_TOKEN, FakeImds

moto, aws_session, imds = moto_fixture.moto, moto_fixture.aws_session, test_boot_secrets.imds
ENVIRONMENT = "hpc-dev"
SCONTROL = "/usr/bin/scontrol"  # Debian's slurm-client (slurm-wlm in the Makefile's packages)


@dataclass
class Refusal:
    """What the proxy does to the traffic: which RunInstances requests it refuses (``(instance type, market)``
    pairs, every request for a node, the first few as throttled), holds or strips of addresses; and what it saw:
    the RunInstances requests in order, every action."""

    pairs: set[tuple[str, str]] = field(default_factory=set)
    nodes: set[str] = field(default_factory=set)
    code: str = "InsufficientInstanceCapacity"
    throttle: int = 0  # the first RunInstances requests answered RequestLimitExceeded (not passed on)
    together: threading.Barrier | None = None  # RunInstances requests held until this many are in flight
    apart: bool = False  # the barrier broke: they never were
    no_addresses_in: set[str] = field(default_factory=set)  # actions whose answers lose their private IPs, as
    # EC2's may while the network interface is being made
    seen: list[dict[str, str]] = field(default_factory=list)
    actions: set[str] = field(default_factory=set)  # every action asked for


class CapacityProxy:
    """Plays EC2's capacity errors in front of moto_server: the error document EC2 answers (``Response/Errors/
    Error`` with ``Code`` and ``Message``; HTTP 500 as for EC2's server-side errors, 503 when throttled)."""

    def __init__(self, upstream: str, refusal: Refusal) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
                refusal.actions.add(form["Action"])
                if form["Action"] == "RunInstances":
                    refusal.seen.append(form)
                    if refusal.together is not None:
                        try:
                            refusal.together.wait()
                        except threading.BrokenBarrierError:
                            refusal.apart = True
                    if len(refusal.seen) <= refusal.throttle:
                        return proxy._refuse(self, "RequestLimitExceeded", form["InstanceType"], 503)
                    market = form.get("InstanceMarketOptions.MarketType", "on-demand")
                    node = next(value for key, value in form.items() if key.startswith("TagSpecification.1.Tag.")
                                and key.endswith(".Value") and form[key[:-6] + ".Key"] == "chpc:node")
                    if (form["InstanceType"], market) in refusal.pairs or node in refusal.nodes:
                        return proxy._refuse(self, refusal.code, form["InstanceType"], 500)
                request = urllib.request.Request(upstream + self.path, data=body, method="POST",
                                                 headers={k: v for k, v in self.headers.items() if k != "Host"})
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        status, data = answer.status, answer.read()
                except urllib.error.HTTPError as error:
                    status, data = error.code, error.read()
                if form["Action"] in refusal.no_addresses_in:
                    data = re.sub(rb"<privateIpAddress>[^<]*</privateIpAddress>", b"", data)
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @staticmethod
    def _refuse(handler: BaseHTTPRequestHandler, code: str, instance_type: str, status: int) -> None:
        data = ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>' + code + "</Code>"
                f"<Message>We currently do not have sufficient {instance_type} capacity in the Availability Zone "
                "you requested (us-east-1a).</Message></Error></Errors>"
                "<RequestID>0c6422af-c300-4fe6-b942-2b7923f7b362</RequestID></Response>").encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/xml;charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Head:
    """The head as slurmctld runs the programs there: the config file, the fake scontrol's record, EC2's URL."""

    config: Path
    scontrol_log: Path
    bin: Path
    endpoint: str
    imds: FakeImds
    ec2: Any
    template_id: str
    subnet_id: str

    def run(self, action: str, hostlist: str, address_timeout: float = 20) -> subprocess.CompletedProcess[str]:
        command = [PYTHON3, ec2_power.__file__, "--config", str(self.config), "--endpoint-url", self.endpoint,
                   "--imds", self.imds.url, "--address-timeout", str(address_timeout), action, hostlist]
        env = {"PATH": f"{self.bin}:/usr/bin:/bin", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
        return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)

    def scontrol_calls(self) -> list[list[str]]:
        if not self.scontrol_log.exists():
            return []
        return [json.loads(line) for line in self.scontrol_log.read_text().splitlines()]

    def instances(self, environment: str = ENVIRONMENT, states: tuple[str, ...] = ("pending", "running")
                  ) -> dict[str, dict[str, Any]]:
        """This environment's live instances by node name (each node at most once)."""
        reservations = self.ec2.describe_instances(Filters=[
            {"Name": "tag:chpc:environment", "Values": [environment]},
            {"Name": "instance-state-name", "Values": list(states)}])["Reservations"]
        found: dict[str, dict[str, Any]] = {}
        for instance in (i for r in reservations for i in r["Instances"]):
            node = {t["Key"]: t["Value"] for t in instance["Tags"]}["chpc:node"]
            assert node not in found, f"two live instances for {node}"
            found[node] = instance
        return found


@pytest.fixture
def head_factory(aws_session: MotoSession, moto: moto_fixture.MotoServer, imds: FakeImds,
                 tmp_path: Path) -> Iterator[Callable[..., Head]]:
    """A head whose partitions are ``compute`` (c5n.18xlarge, then c5n.9xlarge) and ``gpu`` (spot first:
    g5.xlarge, then g5.2xlarge), each with its own launch template, behind a capacity proxy refusing ``refusal``."""
    ec2 = aws_session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    templates = {name: ec2.create_launch_template(LaunchTemplateName=f"{ENVIRONMENT}-{name}", LaunchTemplateData={
        "ImageId": image, "InstanceType": "t3.micro",
        "MetadataOptions": {"HttpTokens": "required"}})["LaunchTemplate"]["LaunchTemplateId"]
        for name in ("compute", "gpu")}
    bin_dir, scontrol_log = tmp_path / "bin", tmp_path / "scontrol.jsonl"
    bin_dir.mkdir()
    fake = bin_dir / "scontrol"
    fake.write_text(f"#!{PYTHON3}\nimport json, sys\nwith open({str(scontrol_log)!r}, 'a') as record:\n"
                    "    record.write(json.dumps(sys.argv[1:]) + '\\n')\n")
    fake.chmod(0o755)
    config = tmp_path / "ec2-power.json"
    config.write_text(power_config(REGION, ENVIRONMENT, {
        "compute": PartitionLaunch(templates["compute"], ("c5n.18xlarge", "c5n.9xlarge"), (subnet["SubnetId"],)),
        "gpu": PartitionLaunch(templates["gpu"], ("g5.xlarge", "g5.2xlarge"), (subnet["SubnetId"],), spot=True,
                               launch_template_version="1")}))
    proxies: list[CapacityProxy] = []

    def make(refusal: Refusal | None = None) -> Head:
        endpoint = moto.endpoint
        if refusal is not None:
            proxies.append(CapacityProxy(moto.endpoint, refusal))
            endpoint = proxies[-1].url
        return Head(config, scontrol_log, bin_dir, endpoint, imds, ec2, templates["compute"], subnet["SubnetId"])

    yield make
    for proxy in proxies:
        proxy.stop()


def updates_by_node(head: Head) -> dict[str, list[str]]:
    """The last ``scontrol update`` arguments for each node."""
    calls: dict[str, list[str]] = {}
    for argv in head.scontrol_calls():
        assert argv[0] == "update", argv
        calls[argv[1].removeprefix("NodeName=")] = argv[2:]
    return calls


def test_resume_launches_one_instance_per_node_from_the_partitions_template_tagged_and_named(
        head_factory: Callable[..., Head]) -> None:
    head = head_factory()
    result = head.run("resume", "compute-[0-2]")
    assert result.returncode == 0, result.stderr

    instances = head.instances()
    assert sorted(instances) == ["compute-0", "compute-1", "compute-2"]
    for node, instance in instances.items():
        tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
        assert tags["chpc:environment"] == ENVIRONMENT and tags["Name"] == f"{ENVIRONMENT}-{node}"
        assert tags["aws:ec2launchtemplate:id"] == head.template_id
        assert instance["InstanceType"] == "c5n.18xlarge"  # the first type in the partition's order
        assert instance["SubnetId"] == head.subnet_id
        volumes = head.ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id",
                                                      "Values": [instance["InstanceId"]]}])["Volumes"]
        assert volumes and all({t["Key"]: t["Value"] for t in volume["Tags"]} == {
            "chpc:environment": ENVIRONMENT, "chpc:node": node, "Name": f"{ENVIRONMENT}-{node}"}
            for volume in volumes)
    # Slurm learns each node's real private IP, as EC2 (moto) assigned it
    assert updates_by_node(head) == {node: [f"NodeAddr={instance['PrivateIpAddress']}", f"NodeHostname={node}"]
                                     for node, instance in instances.items()}
    # one line per action; the credentials came from IMDSv2, a session token first
    assert sum("launched" in line for line in result.stderr.splitlines()) == 3
    token, *reads = head.imds.seen
    assert (token.method, token.path) == ("PUT", "/latest/api/token")
    assert reads and all(read.headers["x-aws-ec2-metadata-token"] == SESSION_TOKEN for read in reads)


def test_resume_again_after_a_slurmctld_restart_launches_nothing_twice(head_factory: Callable[..., Head]) -> None:
    refusal = Refusal()
    head = head_factory(refusal)
    assert head.run("resume", "compute-[0-1]").returncode == 0
    first = {node: instance["InstanceId"] for node, instance in head.instances().items()}
    launches = len(refusal.seen)

    result = head.run("resume", "compute-[0-2]")
    assert result.returncode == 0, result.stderr
    again = {node: instance["InstanceId"] for node, instance in head.instances().items()}
    assert {node: again[node] for node in first} == first  # the same instances, none launched twice
    assert sorted(again) == ["compute-0", "compute-1", "compute-2"] and len(refusal.seen) == launches + 1
    assert "not launched again" in result.stderr
    assert set(updates_by_node(head)) == {"compute-0", "compute-1", "compute-2"}  # Slurm told every address again


def test_the_next_type_is_launched_when_ec2_has_no_capacity_for_the_first(head_factory: Callable[..., Head]) -> None:
    refusal = Refusal(pairs={("c5n.18xlarge", "on-demand")})
    head = head_factory(refusal)
    result = head.run("resume", "compute-4")
    assert result.returncode == 0, result.stderr
    assert head.instances()["compute-4"]["InstanceType"] == "c5n.9xlarge"
    assert [(seen["InstanceType"], seen.get("InstanceMarketOptions.MarketType")) for seen in refusal.seen] == [
        ("c5n.18xlarge", None), ("c5n.9xlarge", None)]
    assert "c5n.18xlarge on-demand: InsufficientInstanceCapacity" in result.stderr


def test_an_address_ec2_reports_later_is_waited_for(head_factory: Callable[..., Head]) -> None:
    refusal = Refusal(no_addresses_in={"RunInstances"})
    head = head_factory(refusal)
    result = head.run("resume", "compute-0")
    assert result.returncode == 0, result.stderr
    address = head.instances()["compute-0"]["PrivateIpAddress"]
    assert updates_by_node(head) == {"compute-0": [f"NodeAddr={address}", "NodeHostname=compute-0"]}


def test_a_node_whose_address_never_shows_is_down_with_the_reason(head_factory: Callable[..., Head]) -> None:
    head = head_factory(Refusal(no_addresses_in={"RunInstances", "DescribeInstances"}))
    assert head.run("resume", "compute-0", address_timeout=1).returncode == 1
    instance_id = head.instances()["compute-0"]["InstanceId"]
    assert updates_by_node(head) == {"compute-0": ["State=DOWN", f"Reason={instance_id} had no private IP after 1 s"]}


def test_a_throttled_launch_is_retried_with_the_same_client_token_and_launches_once(
        head_factory: Callable[..., Head]) -> None:
    refusal = Refusal(throttle=1)
    head = head_factory(refusal)
    result = head.run("resume", "compute-0")
    assert result.returncode == 0, result.stderr
    assert [seen["InstanceType"] for seen in refusal.seen] == ["c5n.18xlarge", "c5n.18xlarge"]
    first, retried = refusal.seen
    assert first["ClientToken"] == retried["ClientToken"] and len(first["ClientToken"]) <= 64
    assert list(head.instances()) == ["compute-0"]
    assert "RunInstances: RequestLimitExceeded; retrying" in result.stderr


def test_the_program_calls_only_what_the_heads_power_policy_grants(head_factory: Callable[..., Head]) -> None:
    refusal = Refusal()
    head = head_factory(refusal)
    assert head.run("resume", "compute-[0-1],gpu-0").returncode == 0
    assert head.run("suspend", "compute-[0-1],gpu-0").returncode == 0
    policy = head_power_policy(ENVIRONMENT, ["arn:aws:ec2:us-east-1:*:launch-template/lt-0"], REGION,
                               "arn:aws:iam::123456789012:role/node")
    granted = {s["Action"].removeprefix("ec2:") for s in policy["Statement"] if s["Action"].startswith("ec2:")}
    # CreateTags is authorized as part of RunInstances' tagging, never called on its own
    assert refusal.actions == granted - {"CreateTags"} == {"DescribeInstances", "RunInstances", "TerminateInstances"}


def test_the_nodes_are_launched_side_by_side(head_factory: Callable[..., Head]) -> None:
    """A 64-node job waits for a few RunInstances round trips, not for 64 in a row: four launches are in flight
    at once (the proxy holds each until the four have arrived; one after the other, they never would)."""
    refusal = Refusal(together=threading.Barrier(4, timeout=10))
    head = head_factory(refusal)
    assert head.run("resume", "compute-[0-3]").returncode == 0
    assert not refusal.apart and sorted(head.instances()) == [f"compute-{i}" for i in range(4)]


def test_a_spot_partition_asks_spot_for_every_type_then_on_demand(head_factory: Callable[..., Head]) -> None:
    refusal = Refusal(pairs={("g5.xlarge", "spot"), ("g5.2xlarge", "spot")})
    head = head_factory(refusal)
    result = head.run("resume", "gpu-[0-1]")
    assert result.returncode == 0, result.stderr
    for node in ("gpu-0", "gpu-1"):  # the nodes launch side by side: each one's requests in order
        tried = [(seen["InstanceType"], seen.get("InstanceMarketOptions.MarketType")) for seen in refusal.seen
                 if seen["TagSpecification.1.Tag.2.Value"] == node]
        assert tried == [("g5.xlarge", "spot"), ("g5.2xlarge", "spot"), ("g5.xlarge", None)]
    for instance in head.instances().values():
        assert instance["InstanceType"] == "g5.xlarge" and "InstanceLifecycle" not in instance  # on-demand
    assert all(seen["LaunchTemplate.Version"] == "1" for seen in refusal.seen)


def test_a_spot_partition_runs_on_spot_when_there_is_capacity(head_factory: Callable[..., Head]) -> None:
    head = head_factory()
    assert head.run("resume", "gpu-0").returncode == 0
    instance = head.instances()["gpu-0"]
    assert (instance["InstanceType"], instance.get("InstanceLifecycle")) == ("g5.xlarge", "spot")


def test_a_node_that_cannot_start_anywhere_is_down_with_what_ec2_said_and_the_others_start(
        head_factory: Callable[..., Head]) -> None:
    head = head_factory(Refusal(nodes={"compute-1"}))
    result = head.run("resume", "compute-[0-2]")
    assert result.returncode == 1
    assert sorted(head.instances()) == ["compute-0", "compute-2"]
    updates = updates_by_node(head)
    assert updates["compute-1"] == ["State=DOWN", "Reason=EC2 started no instance: c5n.18xlarge on-demand: "
                                    "InsufficientInstanceCapacity; c5n.9xlarge on-demand: InsufficientInstanceCapacity"]
    assert updates["compute-0"][0].startswith("NodeAddr=") and updates["compute-2"][0].startswith("NodeAddr=")


def test_a_refusal_that_is_not_about_capacity_fails_the_node_at_once(head_factory: Callable[..., Head]) -> None:
    refusal = Refusal(nodes={"compute-0"}, code="UnauthorizedOperation")
    head = head_factory(refusal)
    assert head.run("resume", "compute-0").returncode == 1
    assert len(refusal.seen) == 1  # another type cannot help: the role may not launch
    assert updates_by_node(head)["compute-0"] == [
        "State=DOWN", "Reason=EC2 started no instance: c5n.18xlarge on-demand: UnauthorizedOperation"]


def test_suspend_terminates_exactly_those_nodes_of_this_environment(head_factory: Callable[..., Head]) -> None:
    head = head_factory()
    assert head.run("resume", "compute-[0-3]").returncode == 0
    before = head.instances()
    image = head.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    other = head.ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=[{
        "ResourceType": "instance", "Tags": [{"Key": "chpc:environment", "Value": "other-env"},
                                             {"Key": "chpc:node", "Value": "compute-1"}]}])["Instances"][0]

    result = head.run("suspend", "compute-[1-2]")
    assert result.returncode == 0, result.stderr
    assert sorted(head.instances()) == ["compute-0", "compute-3"]
    gone = head.instances(states=("shutting-down", "terminated"))
    assert {node: i["InstanceId"] for node, i in gone.items()} == {
        node: before[node]["InstanceId"] for node in ("compute-1", "compute-2")}
    assert list(head.instances("other-env")) == ["compute-1"]
    assert head.instances("other-env")["compute-1"]["InstanceId"] == other["InstanceId"]

    again = head.run("suspend", "compute-[1-2]")
    assert again.returncode == 0, again.stderr
    assert "no instance left" in again.stderr and sorted(head.instances()) == ["compute-0", "compute-3"]


def test_a_stopped_instance_is_terminated_too(head_factory: Callable[..., Head]) -> None:
    head = head_factory()
    assert head.run("resume", "compute-0").returncode == 0
    head.ec2.stop_instances(InstanceIds=[head.instances()["compute-0"]["InstanceId"]])
    assert head.run("suspend", "compute-0").returncode == 0
    assert head.instances(states=("pending", "running", "stopping", "stopped")) == {}


@pytest.mark.parametrize("hostlist", ["compute-[2-1]", "Compute-1", "compute", "compute-[0-1"])
def test_a_hostlist_of_no_toolkit_nodes_is_one_line_and_exit_2(head_factory: Callable[..., Head],
                                                               hostlist: str) -> None:
    head = head_factory()
    result = head.run("resume", hostlist)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("ec2-power resume: ") and line.endswith("pass Slurm's hostlist of toolkit nodes")
    assert head.instances() == {} and head.scontrol_calls() == []


def test_a_node_of_no_configured_partition_is_down_with_the_reason(head_factory: Callable[..., Head]) -> None:
    head = head_factory()
    assert head.run("resume", "bigmem-0,compute-0").returncode == 1
    assert sorted(head.instances()) == ["compute-0"]
    assert updates_by_node(head)["bigmem-0"] == ["State=DOWN", "Reason=no partition bigmem in the power config"]


def test_without_credentials_every_node_is_down_at_once_with_the_reason(
        head_factory: Callable[..., Head]) -> None:
    head = head_factory()
    head.imds.credentials = None  # an instance without a role: IMDS has no credentials to give
    result = head.run("resume", "compute-[0-1]")
    assert result.returncode == 1
    line, *downs = result.stderr.splitlines()
    assert line.startswith("ec2-power resume compute-[0-1]: ec2-power could not reach EC2 (") and "HTTP 404" in line
    assert len(downs) == 2
    updates = updates_by_node(head)
    assert sorted(updates) == ["compute-0", "compute-1"]
    assert all(u[0] == "State=DOWN" and u[1].startswith("Reason=ec2-power could not reach EC2 (")
               for u in updates.values())
    assert head.instances() == {}


def test_power_config_round_trips_and_refuses_what_the_program_would() -> None:
    launch = PartitionLaunch("lt-0abc", ("c5n.18xlarge",), ("subnet-1",), spot=True, launch_template_version="7")
    config = ec2_power.read_config(power_config("eu-west-3", "hpc-dev", {"compute": launch}))
    assert config == ec2_power.Config("eu-west-3", "hpc-dev", {"compute": launch})
    for partitions in ({"Compute": launch}, {"averyverylongname": launch}, {"compute": PartitionLaunch(
            "lt-0abc", (), ("subnet-1",))}, {"compute": PartitionLaunch("lt-0abc", ("c5.large",), ("s",),
                                                                         launch_template_version="$Default")}, {}):
        with pytest.raises(ec2_power.PowerError, match="redeploy the stack"):
            power_config("eu-west-3", "hpc-dev", partitions)


@pytest.mark.parametrize(("text", "says"), [("{}", "no 'region'"), ("[]", "list indices"), ("x", "Expecting value"),
                                            ('{"region": "r", "environment": "e", "partitions": {}}', "no partition")])
def test_a_config_that_is_not_the_toolkits_is_one_line(text: str, says: str) -> None:
    with pytest.raises(ec2_power.PowerError, match=f"{says}.*redeploy the stack$"):
        ec2_power.read_config(text)


# --- the hostlist, against Slurm's own expansion ---

def slurm_hostnames(hostlist: str, slurm_conf: Path) -> list[str] | None:
    """What Slurm's ``scontrol show hostnames`` expands ``hostlist`` to; None when it refuses it (it says
    ``Invalid hostlist``, and exits 0)."""
    result = subprocess.run([SCONTROL, "show", "hostnames", hostlist], capture_output=True, text=True,
                            env={**os.environ, "SLURM_CONF": str(slurm_conf)}, timeout=30)
    refused = result.returncode or "Invalid hostlist" in result.stdout + result.stderr
    return None if refused else result.stdout.split()


@pytest.fixture(scope="module")
def slurm_conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The least slurm.conf with which scontrol parses a hostlist without asking a controller."""
    assert shutil.which(SCONTROL), "scontrol is missing: make setup installs slurm-wlm"
    path = tmp_path_factory.mktemp("slurm") / "slurm.conf"
    path.write_text("ClusterName=hostlist\nSlurmctldHost=localhost\nNodeName=a CPUs=1\nPartitionName=p Nodes=a\n")
    return path


PREFIX = st.from_regex(r"[a-z][a-z0-9]{0,5}-", fullmatch=True)
RANGE = st.tuples(st.integers(0, 120), st.integers(0, 12), st.integers(1, 4)).map(
    lambda r: f"{r[0]:0{r[2]}d}" + (f"-{r[0] + r[1]}" if r[1] else ""))
ITEM = st.one_of(st.builds(lambda prefix, index: f"{prefix}{index}", PREFIX, st.integers(0, 999)),
                 st.builds(lambda prefix, ranges: f"{prefix}[{','.join(ranges)}]", PREFIX,
                           st.lists(RANGE, min_size=1, max_size=3)))


@settings(max_examples=150, deadline=None)
@given(st.lists(ITEM, min_size=1, max_size=4).map(",".join))
def test_the_hostlist_expands_as_slurm_expands_it(slurm_conf: Path, hostlist: str) -> None:
    assert expand_hostlist(hostlist) == slurm_hostnames(hostlist, slurm_conf)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.builds(lambda prefix, index: f"{prefix}{index}", PREFIX, st.integers(0, 9999)), min_size=1))
def test_a_list_of_plain_names_is_itself(names: list[str]) -> None:
    assert expand_hostlist(",".join(names)) == names


@pytest.mark.parametrize("hostlist", ["a-[3-1]", "a-[x]", "a-[]", "a-[1-2]]", "a-[[1]]"])
def test_a_hostlist_slurm_refuses_is_refused(slurm_conf: Path, hostlist: str) -> None:
    assert slurm_hostnames(hostlist, slurm_conf) is None
    with pytest.raises(ValueError, match="hostlist"):
        expand_hostlist(hostlist)


@pytest.mark.parametrize("hostlist", ["a-[1", "a-1]", "a-[1-]", "a-1,,b-2", ",a-1"])
def test_a_hostlist_slurm_reads_leniently_is_refused_too(hostlist: str) -> None:
    """Slurm never sends these (it reads ``a-[1`` as the name ``a-]``): refused rather than guessed at."""
    with pytest.raises(ValueError, match="hostlist"):
        expand_hostlist(hostlist)
