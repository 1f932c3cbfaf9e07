"""Every input of every planned resource of every example stack is one the installed provider SDK knows, at its
level, of its kind, and within its enum: Pulumi's mocks accept any key, a real `up` does not.

The stacks are evaluated offline as `invoke plan` evaluates them (``targets.plan.mock_run.evaluate``); the
checker (``tests/sdk_inputs.py``) is itself shown to catch a misspelled nested key, a value outside its enum and
a value of the wrong kind."""

from __future__ import annotations

from pathlib import Path

import pulumi_aws as aws
import pulumi_azure_native.compute as compute
import pytest

import stacks
from spec.environment import Environment
from spec.loader import load_spec_file, load_stack_config
from targets.plan.mock_run import PLANNED_PUBLIC_KEY, PlannedResource, evaluate
from tests.sdk_inputs import args_type, problems

ROOT = Path(__file__).resolve().parents[1]


def examples() -> dict[str, Environment]:
    """Every example the project ships, stack files and spec files, by file name; the local target has no
    Pulumi program."""
    found = {path.name: load_stack_config(path.name[len("Pulumi."):-len(".yaml")], ROOT)
             for path in sorted(ROOT.glob("Pulumi.*.yaml"))}
    found.update({path.name: load_spec_file(path) for path in sorted((ROOT / "examples" / "specs").glob("*.yaml"))})
    return {name: env for name, env in found.items() if env.target != "local"}


def planned(program: object, region: str = "us-east-1") -> list[PlannedResource]:
    return [resource for resource in evaluate(program, project="cloud-hpc-toolkit", stack="sdk", region=region)
            if resource.custom]


def test_every_example_but_the_local_ones_is_checked() -> None:
    shipped = {path.name for path in ROOT.glob("Pulumi.*.yaml")} | {
        path.name for path in (ROOT / "examples" / "specs").glob("*.yaml")}
    assert shipped - set(examples()) == {"Pulumi.local-dev.yaml", "local.yaml", "local-elastic.yaml"}
    assert {"Pulumi.hpc-dev.yaml", "Pulumi.azure-spark-dev.yaml", "aws-hpc.yaml"} <= set(examples())


@pytest.mark.parametrize("example", sorted(examples()))
def test_every_planned_input_is_one_the_sdk_knows(example: str) -> None:
    env = examples()[example]
    resources = planned(lambda: stacks.build(env, PLANNED_PUBLIC_KEY), region=env.region or "us-east-1")
    assert len(resources) > 10
    assert [line for resource in resources for line in problems(resource)] == []


def test_a_misspelled_nested_key_a_value_of_the_wrong_kind_and_an_outside_enum_are_named() -> None:
    def program() -> None:
        aws.ec2.Instance("node", ami="ami-1", instance_type="c5n.large", tags={"Any Key At All": "free"},
                         metadata_options={"http_tokenz": "required"},
                         root_block_device={"volume_size": "large", "encrypted": "yes"})
        compute.Disk("scratch", resource_group_name="rg", sku={"name": "PremiumV3_LRS"}, disk_size_gb=1.5,
                     creation_data={"create_option": "Empty"})
        compute.VirtualMachine("head", resource_group_name="rg", storage_profile={"os_disk": {
            "create_option": "FromImage", "caching": "Readwrite"}})

    found = [line for resource in planned(program) for line in problems(resource)]
    assert sorted(found) == sorted([
        "aws:ec2/instance:Instance node: metadataOptions.http_tokenz: no such property in "
        "InstanceMetadataOptionsArgs (it has httpEndpoint, httpProtocolIpv6, httpPutResponseHopLimit, httpTokens, "
        "instanceMetadataTags)",
        "aws:ec2/instance:Instance node: rootBlockDevice.volumeSize: a string 'large' where int is expected",
        "aws:ec2/instance:Instance node: rootBlockDevice.encrypted: a string 'yes' where bool is expected",
        "azure-native:compute:Disk scratch: sku.name: a string 'PremiumV3_LRS' is not one of DiskStorageAccountTypes: "
        "PremiumV2_LRS, Premium_LRS, Premium_ZRS, StandardSSD_LRS, StandardSSD_ZRS, Standard_LRS, UltraSSD_LRS",
        "azure-native:compute:Disk scratch: diskSizeGB: a number 1.5 where int is expected",
        "azure-native:compute:VirtualMachine head: storageProfile.osDisk.caching: a string 'Readwrite' is not one of "
        "CachingTypes: None, ReadOnly, ReadWrite",
    ])


def test_a_providers_json_encoded_inputs_are_checked_too() -> None:
    def program() -> None:
        aws.Provider("aws", region="us-east-1", skip_region_validation=True, default_tags={"tagz": {"a": "b"}})

    [provider] = planned(program)
    assert provider.inputs["defaultTags"] == '{"tagz": {"a": "b"}}'  # how a provider's object input travels
    assert problems(provider) == ["pulumi:providers:aws aws: defaultTags.tagz: no such property in "
                                  "ProviderDefaultTagsArgs (it has tags)"]


def test_an_enum_the_sdk_calls_deprecated_takes_any_value() -> None:
    def program() -> None:
        compute.VirtualMachine("vm", resource_group_name="rg", hardware_profile={"vm_size": "Standard_HB176rs_v4"})

    assert [line for resource in planned(program) for line in problems(resource)] == []


def test_the_args_class_is_the_one_the_constructor_names() -> None:
    import pulumi_azure_native.network as network

    # the plain name belongs to a nested type (a reference to a network), not to the resource's inputs
    assert network.VirtualNetworkArgs is not args_type("azure-native:network:VirtualNetwork")
    assert args_type("azure-native:network:VirtualNetwork").__name__ == "VirtualNetworkInitArgs"
    assert args_type("pulumi:providers:aws") is aws.ProviderArgs
    with pytest.raises(LookupError, match="no installed SDK registers the resource type aws:ec2/nothing:Nothing"):
        args_type("aws:ec2/nothing:Nothing")
