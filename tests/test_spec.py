"""The environment spec: the examples load, defaults fit the target, and every mistake is one clear line."""

from pathlib import Path

import pytest

from spec.check import main as check_main
from spec.environment import Environment
from spec.errors import SpecError
from spec.loader import load_environment, load_spec_file, load_spec_text, load_stack_config, read_public_key

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "specs"
AWS = "target: aws\nregion: us-east-1\nssh: {allowed_cidr: 198.51.100.0/24}\n"


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as caught:
        load_spec_text(text)
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    return message


def test_aws_example_loads_as_written():
    env = load_spec_file(EXAMPLES / "aws-hpc.yaml")
    assert (env.name, env.target, env.region) == ("hpc-dev", "aws", "us-east-1")
    assert env.ssh.user == "ec2-user"
    assert env.ssh.private_key == "~/.ssh/id_ed25519"
    [compute] = env.slurm_partitions
    assert (compute.name, compute.min, compute.max, compute.instance_type, compute.networking) == (
        "compute", 4, 4, "c5n.18xlarge", "rdma")
    assert env.compute is None  # the shorthand became the partition
    [scratch] = env.storage.volumes
    assert (scratch.type, scratch.size_gb, scratch.mount, scratch.retain, scratch.fs_type) == (
        "gp3", 500, "/scratch", True, "ext4")
    assert env.storage.shared is not None and env.storage.shared.kind == "efs"
    assert (env.spark, env.containers, env.stack, env.parts) == (None, None, "hpc", {"hpc"})  # what it says it builds


def test_azure_and_local_examples_load():
    azure = load_spec_file(EXAMPLES / "azure-hpc.yaml")
    assert (azure.target, azure.region, azure.ssh.user) == ("azure", "westeurope", "azureuser")
    assert azure.storage.volumes[0].type == "Premium_LRS"
    local = load_spec_file(str(EXAMPLES / "local.yaml"))
    assert (local.target, local.slurm_partitions[0].max, local.storage.volumes[0].retain) == ("local", 2, False)
    assert local.storage.shared is not None and local.storage.shared.mount == "/shared"


def test_local_defaults():
    env = load_spec_text("{}")
    assert (env.name, env.target, env.region) == ("hpc", "local", None)
    assert (env.ssh.user, env.head.instance_type, env.slurm_partitions[0].instance_type) == ("root", "local", "local")
    assert (env.slurm_partitions[0].max, env.slurm_partitions[0].networking) == (2, "none")
    assert env.storage.volumes == [] and env.storage.shared is None
    assert env.spark is None and env.containers is None


def test_local_default_classmethod():
    env = Environment.local_default(nodes=3, name="mini")
    assert (env.name, env.target, env.slurm_partitions[0].max) == ("mini", "local", 3)
    volumes = [(v.name, v.size_gb, v.mount, v.type) for v in env.storage.volumes]
    assert volumes == [("scratch", 1, "/scratch", "loop")]
    assert env.storage.shared is not None and (env.storage.shared.kind, env.storage.shared.mount) == (
        "local", "/shared")


@pytest.mark.parametrize("target, user, volume_type", [
    ("aws", "ec2-user", "gp3"),
    ("azure", "azureuser", "Premium_LRS"),
])
def test_cloud_defaults_follow_the_target(target, user, volume_type):
    region = "us-east-1" if target == "aws" else "eastus2"
    env = load_spec_text(f"target: {target}\nregion: {region}\nssh: {{allowed_cidr: 2001:db8::/32}}\n"
                         "head: {instance_type: a}\ncompute: {instance_type: b}\n"
                         "storage: {volumes: [{name: data, size_gb: 10, mount: /data}]}\n")
    assert env.ssh.user == user and env.ssh.allowed_cidr == "2001:db8::/32"
    assert env.storage.volumes[0].type == volume_type


def test_explicit_user_and_private_key_are_kept():
    env = load_spec_text("ssh: {user: alice, public_key: ~/k.pub, private_key: /keys/k}")
    assert (env.ssh.user, env.ssh.public_key, env.ssh.private_key) == ("alice", "~/k.pub", "/keys/k")


@pytest.mark.parametrize("given, canonical", [
    ("none", "none"), ("ena", "enhanced"), ("Accelerated", "enhanced"), ("ENHANCED", "enhanced"),
    ("efa", "rdma"), ("InfiniBand", "rdma"), ("RDMA", "rdma"),
])
def test_networking_aliases_normalise(given, canonical):
    assert load_spec_text(f"compute: {{networking: {given}}}").slurm_partitions[0].networking == canonical


def test_mount_is_normalised_and_pulumi_style_strings_become_ints():
    env = load_spec_text("compute: {count: '7'}\n"
                         "storage: {volumes: [{name: a, size_gb: '2', mount: //data/./x/}]}")
    assert env.slurm_partitions[0].max == 7
    assert (env.storage.volumes[0].size_gb, env.storage.volumes[0].mount) == (2, "/data/x")


MOUNT_RULE = "allowed: an absolute path of letters, digits, '.', '_', '-', such as /scratch"
NETWORKING_RULE = "allowed: none, enhanced, rdma (aliases: ena, efa, accelerated, infiniband)"
NAME_RULE = "allowed: a lowercase letter, then up to 19 lowercase letters, digits or '-'"
COUNT_RULE = "allowed: an integer from 1 to 1000"
AWS_MACHINES = AWS + "head: {instance_type: a}\ncompute: {instance_type: b}\n"


def volume(mount: str) -> str:
    return f"storage: {{volumes: [{{name: a, size_gb: 1, mount: {mount}}}]}}"


@pytest.mark.parametrize("text, message", [
    ("compute: {networking: fast}",
     f"compute.networking = 'fast': {NETWORKING_RULE}"),
    ("compute: {nodes: 3}", "compute.nodes: unknown field; allowed fields: count, instance_type, networking"),
    ("nodes: 3", "nodes: unknown field; allowed fields: name, target, stack, region, ssh, head, compute, partitions, "
                 "scaling, storage, spark, containers, network, tags"),
    ("stack: containers", "stack = 'containers': allowed: hpc, full (target local always runs Slurm; full adds "
                          "Spark with a spark section)"),
    ("containers: {}", "containers.image: required"),
    ("containers: {image: x, cpu: 300}", "containers.cpu = 300: allowed: 256, 512, 1024, 2048, 4096"),
    ("network: {public_subnet_ids: [subnet-0a1b2c3d]}", "network.vpc_id: required when subnet ids are given"),
    ("network: {vpc_cidr: 10.0.0.1/16}", "network.vpc_cidr = '10.0.0.1/16': allowed: an IPv4 or IPv6 network "
                                          "without host bits, such as 198.51.100.0/24"),
    ("target: aws", "region: required for target aws (e.g. us-east-1)"),
    ("target: azure", "region: required for target azure (e.g. westeurope)"),
    ("target: aws\nregion: eu-west", "region = 'eu-west': allowed: an AWS region such as us-east-1"),
    ("target: azure\nregion: West Europe",
     "region = 'West Europe': allowed: an Azure location such as westeurope or eastus2"),
    ("target: aws\nregion: us-east-1",
     "ssh.allowed_cidr: required for target aws (the network you connect from, e.g. 198.51.100.0/24)"),
    (AWS, "head.instance_type: required for target aws (e.g. c5n.large)"),
    (AWS + "head: {instance_type: c5n.large}",
     "compute.instance_type: required for target aws (e.g. c5n.large)"),
    ("target: gcp", "target = 'gcp': allowed: local, aws, azure"),
    ("name: Prod", f"name = 'Prod': {NAME_RULE}"),
    ("compute: {count: 0}", f"compute.count = 0: {COUNT_RULE}"),
    ("compute: {count: 1001}", f"compute.count = 1001: {COUNT_RULE}"),
    ("compute: {count: many}", f"compute.count = 'many': {COUNT_RULE}"),
    ("compute: {count: yes}", f"compute.count = 'yes': {COUNT_RULE}"),  # YAML 1.2: a string, not true
    ("compute: 4", "compute = 4: allowed: a mapping with fields count, instance_type, networking"),
    ("spark: {idle_timeout_minutes: 0}",
     "spark.idle_timeout_minutes = 0: allowed: an integer from 1 to 10080"),
    ("ssh: {allowed_cidr: 10.0.0.1/24}",
     "ssh.allowed_cidr = '10.0.0.1/24': allowed: an IPv4 or IPv6 network without host bits, such as "
     "198.51.100.0/24"),
    ("ssh: {user: Bob}", "ssh.user = 'Bob': allowed: a login name such as ec2-user"),
    ("storage: {volumes: [{name: a, size_gb: 0, mount: /a}]}",
     "storage.volumes[0].size_gb = 0: allowed: an integer from 1 to 65536"),
    ("storage: {volumes: [{name: a, mount: /a}]}",
     "storage.volumes[0].size_gb: required (unless from names a snapshot, whose size is then the volume's)"),
    (volume("/proc/x"), "storage.volumes[0].mount = '/proc/x': allowed: a mount point neither on, above nor "
                        "inside /proc (processes)"),
    (volume("/"), "storage.volumes[0].mount = '/': allowed: a mount point other than / (it would hide the whole "
                  "system)"),
    (volume("/var"), "storage.volumes[0].mount = '/var': allowed: a mount point neither on, above nor inside "
                     "/var/lib (daemons' state: Slurm, munge, cloud-init, packages)"),
    (volume("data"), f"storage.volumes[0].mount = 'data': {MOUNT_RULE}"),
    (volume("/a b"), f"storage.volumes[0].mount = '/a b': {MOUNT_RULE}"),
    ("storage: {volumes: [{name: a, size_gb: 1, mount: /a}, {name: a, size_gb: 1, mount: /b}]}",
     "storage.volumes[1].name = 'a': allowed: a name no other volume has (volumes[0] has it)"),
    ("storage: {volumes: [{name: a, size_gb: 1, mount: /a}, {name: b, size_gb: 1, mount: /a/}]}",
     "storage.volumes[1].mount = '/a': allowed: a mount point no other volume uses (volumes[0] uses it)"),
    ("storage: {volumes: [{name: a, size_gb: 1, mount: /s}], shared: {kind: local, mount: /s}}",
     "storage.shared.mount = '/s': allowed: a mount point no volume uses (volumes[0] uses it)"),
    ("storage: {volumes: [{name: a, size_gb: 1, mount: /a, fs_type: btrfs}]}",
     "storage.volumes[0].fs_type = 'btrfs': allowed: ext4, xfs"),
    ("storage: {volumes: [{name: a, size_gb: 1, mount: /a, retain: maybe}]}",
     "storage.volumes[0].retain = 'maybe': allowed: true or false"),
    ("storage: {volumes: {name: a}}", "storage.volumes = {'name': 'a'}: allowed: a list"),
    ("storage: {shared: {kind: efs, mount: /s}}",
     "storage.shared.kind = 'efs': allowed: local (target local)"),
    ("storage: {shared: {kind: nfs, mount: /s}}", "storage.shared.kind = 'nfs': allowed: efs, files, local"),
    (AWS_MACHINES + "storage: {shared: {kind: files, mount: /s}}",
     "storage.shared.kind = 'files': allowed: efs (target aws)"),
    (AWS_MACHINES + "storage: {volumes: [{name: a, size_gb: 1, mount: /a, type: Premium_LRS}]}",
     "storage.volumes[0].type = 'Premium_LRS': allowed: gp2, gp3, io1, io2, st1, sc1 (target aws)"),
    ("region: [1]", "region = [1]: allowed: a string"),
])
def test_error_names_field_value_and_what_is_allowed(text, message):
    assert error_of(text) == f"spec error: {message}"


def test_more_errors_are_counted():
    assert error_of("compute: {count: 0, networking: x}\nfoo: 1") == (
        "spec error: compute.count = 0: allowed: an integer from 1 to 1000 (and 2 more)")


def test_long_and_multiline_values_stay_on_one_short_line():
    message = error_of('name: "' + "x\\n" * 50 + '"')
    assert message.startswith("spec error: name = 'x\\nx\\n") and "...: allowed:" in message
    assert len(message.split(": allowed:")[0]) < 90
    assert error_of('"a\\nb\\u2028c": 1').startswith("spec error: a\\nb\\u2028c: unknown field")


@pytest.mark.parametrize("text, message", [
    ("compute: [\n", "<spec>:2:1: invalid YAML: expected the node content, but found '<stream end>' "
                     "(while parsing a flow node at 2:1)"),
    ("a: b: c", "<spec>:1:5: invalid YAML: mapping values are not allowed here"),
    ("# nothing\n- 1\n", "<spec>:2:1: invalid YAML: expected a mapping, found a list"),
    ("just text", "<spec>:1:1: invalid YAML: expected a mapping, found a str"),
    ("", "<spec>: invalid YAML: expected a mapping, found an empty document"),
    ("compute:\n  1: x", "<spec>:2:3: invalid YAML: a key must be a string: '1' reads as int (quote it)"),
    ("true: 1", "<spec>:1:1: invalid YAML: a key must be a string: 'true' reads as bool (quote it)"),
    ("a: 1\n---\nb: 2", "<spec>:2:1: invalid YAML: but found another document "
                        "(expected a single document in the stream at 1:1)"),
    ("when: !!timestamp 2024-02-30", "<spec>:1:7: invalid YAML: tag '!!timestamp' is not allowed "
                                     "(a spec takes strings, numbers, true/false, null, lists and mappings)"),
    ("a: \x07", "<spec>:1:4: invalid YAML: character #x0007: special characters are not allowed"),
    ("[" * 3000, "<spec>:1:65: invalid YAML: collections nested deeper than 64 levels"),
])
def test_invalid_yaml(text, message):
    assert error_of(text) == f"spec error: {message}"


def test_file_errors(tmp_path):
    with pytest.raises(SpecError, match=r"^spec error: .*/missing\.yaml: no such file$"):
        load_spec_file(tmp_path / "missing.yaml")
    with pytest.raises(SpecError, match=r"^spec error: .*: is a directory, not a file$"):
        load_spec_file(tmp_path)
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    with pytest.raises(SpecError, match=r"latin1\.yaml: not UTF-8 text$"):
        load_spec_file(tmp_path / "latin1.yaml")
    (tmp_path / "bad.yaml").write_text("target: [\n")
    with pytest.raises(SpecError, match=r"^spec error: .*/bad\.yaml:2:1: invalid YAML: "):
        load_spec_file(tmp_path / "bad.yaml")


def write_stack(directory: Path, stack: str, config: str, project: str | None = "cloud-hpc-toolkit") -> None:
    if project is not None:
        (directory / "Pulumi.yaml").write_text(f"name: {project}\nruntime: python\n")
    (directory / f"Pulumi.{stack}.yaml").write_text(config)


def test_stack_config_uses_the_project_namespace(tmp_path):
    write_stack(tmp_path, "dev", "config:\n"
                "  aws:region: eu-west-1\n"
                "  azure-native:location: westeurope\n"
                "  other:target: azure\n"
                "  cloud-hpc-toolkit:target: aws\n"
                "  cloud-hpc-toolkit:ssh: {allowed_cidr: 203.0.113.0/24}\n"
                "  cloud-hpc-toolkit:head: {instance_type: c5n.large}\n"
                "  cloud-hpc-toolkit:compute: {count: '4', instance_type: c5n.18xlarge, networking: efa}\n")
    env = load_stack_config("dev", tmp_path)
    assert (env.name, env.target, env.region, env.slurm_partitions[0].max, env.slurm_partitions[0].networking) == (
        "dev", "aws", "eu-west-1", 4, "rdma")


def test_stack_config_own_region_and_name_win_and_project_name_is_read(tmp_path):
    write_stack(tmp_path, "prod", "config:\n"
                "  azure-native:location: North Europe\n"
                "  hpc:target: azure\n"
                "  hpc:name: cluster\n"
                "  hpc:region: eastus2\n"
                "  cloud-hpc-toolkit:target: nonsense\n"
                "  hpc:ssh: {allowed_cidr: 203.0.113.0/24}\n"
                "  hpc:head: {instance_type: Standard_D4s_v5}\n"
                "  hpc:compute: {instance_type: Standard_HB120rs_v3}\n", project="hpc")
    env = load_stack_config("prod", tmp_path)
    assert (env.name, env.target, env.region) == ("cluster", "azure", "eastus2")


def test_stack_config_azure_location_display_name_and_stack_name_sanitised(tmp_path):
    write_stack(tmp_path, "My_Stack.2024", "config:\n"
                "  azure-native:location: North Europe\n"
                "  cloud-hpc-toolkit:target: azure\n"
                "  cloud-hpc-toolkit:ssh: {allowed_cidr: 203.0.113.0/24}\n"
                "  cloud-hpc-toolkit:head: {instance_type: Standard_D4s_v5}\n"
                "  cloud-hpc-toolkit:compute: {instance_type: Standard_HB120rs_v3}\n", project=None)
    env = load_stack_config("org/project/My_Stack.2024", tmp_path)
    assert (env.name, env.region) == ("my-stack-2024", "northeurope")


@pytest.mark.parametrize("stack, name", [("9", "hpc-9"), ("a" * 40, "a" * 20), ("x" * 19 + "-y", "x" * 19)])
def test_stack_names_fit_the_name_pattern(tmp_path, stack, name):
    write_stack(tmp_path, stack, "")
    assert load_stack_config(stack, tmp_path).name == name


@pytest.mark.parametrize("config, message", [
    ("config:\n  cloud-hpc-toolkit:compute.count: 8\n",
     "config key 'cloud-hpc-toolkit:compute.count': a field inside a section; "
     "set it with `pulumi config set --path cloud-hpc-toolkit:compute.count VALUE`"),
    ("config:\n  target: aws\n",
     "config key 'target': allowed: <namespace>:<key>, e.g. cloud-hpc-toolkit:target"),
    ("config: [1]\n", "config = [1]: allowed: a mapping"),
])
def test_stack_config_errors(tmp_path, config, message):
    write_stack(tmp_path, "dev", config)
    with pytest.raises(SpecError) as caught:
        load_stack_config("dev", tmp_path)
    assert str(caught.value) == f"spec error: {tmp_path}/Pulumi.dev.yaml: {message}"


def test_stack_config_validation_error_and_missing_stack(tmp_path):
    write_stack(tmp_path, "dev", "config:\n  cloud-hpc-toolkit:compute: {count: 0}\n")
    with pytest.raises(SpecError, match=rf"^spec error: compute\.count = 0: {COUNT_RULE}$"):
        load_stack_config("dev", tmp_path)
    with pytest.raises(SpecError, match=r"Pulumi\.qa\.yaml: no such file$"):
        load_stack_config("qa", tmp_path)
    with pytest.raises(SpecError, match=r"^spec error: stack 'my stack': allowed: "):
        load_stack_config("my stack", tmp_path)


def test_load_environment_sources_and_overrides(tmp_path):
    write_stack(tmp_path, "dev", "config:\n  cloud-hpc-toolkit:compute: {count: 3}\n")
    spec = str(EXAMPLES / "local.yaml")
    with pytest.raises(SpecError, match="^spec error: give either a spec file or a stack, not both$"):
        load_environment(spec, "dev", tmp_path)
    assert load_environment(spec, None, tmp_path).name == "local"
    assert load_environment(None, "dev", tmp_path).slurm_partitions[0].max == 3
    default = load_environment(None, None, tmp_path)
    assert (default.name, default.target, default.slurm_partitions[0].max) == ("local", "local", 2)
    assert load_environment(None, "dev", tmp_path, nodes=5).slurm_partitions[0].max == 5
    assert load_environment(spec, None, tmp_path, nodes=1).slurm_partitions[0].max == 1
    with pytest.raises(SpecError, match=rf"^spec error: compute\.count = 0: {COUNT_RULE}$"):
        load_environment(None, None, tmp_path, nodes=0)
    with pytest.raises(SpecError, match=r"^spec error: region: required for target aws \(e\.g\. us-east-1\)"):
        load_environment(None, None, tmp_path, target="aws")


def test_target_override_uses_the_provider_region_and_target_defaults(tmp_path):
    write_stack(tmp_path, "dev", "config:\n"
                "  aws:region: us-west-2\n"
                "  cloud-hpc-toolkit:ssh: {allowed_cidr: 203.0.113.0/24}\n"
                "  cloud-hpc-toolkit:head: {instance_type: c5n.large}\n"
                "  cloud-hpc-toolkit:compute: {instance_type: c5n.large}\n"
                "  cloud-hpc-toolkit:storage: {volumes: [{name: s, size_gb: 1, mount: /s}]}\n")
    assert load_stack_config("dev", tmp_path).storage.volumes[0].type == "loop"
    env = load_environment(None, "dev", tmp_path, target="aws")
    assert (env.target, env.region, env.ssh.user, env.storage.volumes[0].type) == (
        "aws", "us-west-2", "ec2-user", "gp3")


def test_check_command(tmp_path, capsys):
    assert check_main([str(EXAMPLES / "aws-hpc.yaml")]) == 0
    assert capsys.readouterr().out == "ok: hpc-dev (aws, stack hpc: 4 compute nodes)\n"
    (tmp_path / "one.yaml").write_text("compute: {count: 1}")
    assert check_main([str(tmp_path / "one.yaml")]) == 0
    assert capsys.readouterr().out == "ok: hpc (local, stack hpc: 1 compute node)\n"
    (tmp_path / "spark.yaml").write_text("target: aws\nregion: us-east-1\nssh: {allowed_cidr: 198.51.100.0/24}\n"
                                         "spark: {}\n")
    assert check_main([str(tmp_path / "spark.yaml")]) == 0
    assert capsys.readouterr().out == "ok: hpc (aws, stack spark)\n"
    assert check_main([str(tmp_path / "none.yaml")]) == 2
    assert capsys.readouterr().err == f"spec error: {tmp_path}/none.yaml: no such file\n"
    assert check_main([]) == 2
    assert capsys.readouterr().err == "usage: python -m spec.check FILE\n"


def test_the_shipped_local_stack_config_loads():
    project = Path(__file__).resolve().parents[1]
    env = load_stack_config("local-dev", project)
    assert (env.name, env.target, env.slurm_partitions[0].max) == ("local-dev", "local", 2)
    assert [v.mount for v in env.storage.volumes] == ["/scratch"] and env.storage.shared.kind == "local"


def test_public_key_is_read_and_checked(tmp_path):
    key = tmp_path / "id.pub"
    key.write_text("ssh-ed25519 AAAAC3Nza user@host\n")
    env = load_spec_text(f"ssh: {{public_key: {key}}}")
    assert read_public_key(env) == "ssh-ed25519 AAAAC3Nza"
    key.write_text("not a key")
    with pytest.raises(SpecError, match="not an OpenSSH public key"):
        read_public_key(env)
    with pytest.raises(SpecError, match="no such readable file"):
        read_public_key(load_spec_text(f"ssh: {{public_key: {tmp_path / 'missing.pub'}}}"))


@pytest.mark.parametrize("stack, target, kind", [("hpc-dev", "aws", "hpc"), ("containers-dev", "aws", "containers")])
def test_the_shipped_cloud_stack_configs_load(stack, target, kind):
    env = load_stack_config(stack, Path(__file__).resolve().parents[1])
    assert (env.name, env.target, env.stack, env.region) == (stack, target, kind, "us-east-1")


PARTITIONS = """partitions:
  - {name: cpu, instance_types: [c5n.large, c5.large], min: 0, max: 100, spot: true}
  - {name: efa, instance_type: c5n.18xlarge, networking: efa, min: 2, max: 8}
"""


def test_aws_takes_elastic_and_several_partitions():
    env = load_spec_text("target: aws\nregion: us-east-1\nssh: {allowed_cidr: 198.51.100.0/24}\n"
                         "head: {instance_type: c5n.large}\n" + PARTITIONS)
    assert [(p.name, p.instance_types, p.min, p.max, p.networking, p.spot, p.elastic)
            for p in env.slurm_partitions] == [
        ("cpu", ["c5n.large", "c5.large"], 0, 100, "none", True, True),
        ("efa", ["c5n.18xlarge"], 2, 8, "rdma", False, True)]


