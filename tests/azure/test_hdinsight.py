"""The HDInsight Spark component under mocks: what it asks Azure for, its secrets, and what it refuses."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.azure.hdinsight import (
    BLOB_DATA_CONTRIBUTOR,
    BLOB_DATA_OWNER,
    AzureSparkCluster,
    AzureSparkClusterArgs,
    check_spark,
    vm_size,
)
from components.azure.storage import account_name as storage_account_name
from spec.environment import Spark
from tests.azure.conftest import AzureMocks
from tests.pulumi_helpers import plain_strings, secret_value

CLUSTER = "azure-native:hdinsight:Cluster"
ACCOUNT = "azure-native:storage:StorageAccount"
ROLE = "azure-native:authorization:RoleAssignment"
IDENTITY_ID = "/subscriptions/0000/resourceGroups/rg/providers/azure-native:managedidentity:UserAssignedIdentity/" \
              "env-hdinsight"
ACCOUNT_ID = f"/subscriptions/0000/resourceGroups/rg/providers/{ACCOUNT}/env-spark"
SUBNET_ID = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/cluster"
VNET_ID = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet"
TAGS = {"chpc:environment": "env", "team": "hpc"}


def properties(mocks: AzureMocks) -> dict[str, Any]:
    """The cluster's properties: all secret, since the logins inside them are (Pulumi marks the whole input)."""
    return secret_value(mocks.one(CLUSTER).inputs["properties"])


def build(spark: dict[str, Any]) -> dict[str, Any]:
    """Build the component for ``spark`` (a spec section) and return its resolved outputs."""
    exported: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        cluster = AzureSparkCluster("env", AzureSparkClusterArgs(
            spark=Spark.model_validate(spark), resource_group_name="env-rg", location="westeurope",
            vnet_id=VNET_ID, subnet_id=SUBNET_ID,
            uploader_object_id="deployer-object-id", uploader_principal_type="ServicePrincipal",
            subscription_id="sub-1", tags=TAGS))
        return pulumi.Output.all(cluster.livy_url, cluster.container_url, cluster.gateway_password).apply(
            lambda values: exported.update(zip(("livy", "container", "password"), values, strict=True)))

    program()
    return exported


def test_a_spark_cluster_of_hdinsight_5_1_with_tls_1_2_and_encryption_in_transit(mocks: AzureMocks) -> None:
    build({})
    cluster = mocks.one(CLUSTER).inputs
    properties = secret_value(cluster["properties"])
    assert properties["clusterDefinition"]["kind"] == "Spark"
    assert properties["clusterDefinition"]["componentVersion"] == {"Spark": "3.3"}
    assert (properties["clusterVersion"], properties["osType"], properties["tier"]) == ("5.1", "Linux", "Standard")
    assert properties["minSupportedTlsVersion"] == "1.2"
    assert properties["encryptionInTransitProperties"] == {"isEncryptionInTransitEnabled": True}
    assert (cluster["location"], cluster["tags"]) == ("westeurope", TAGS)


def test_sizes_and_worker_count_come_from_the_spec(mocks: AzureMocks) -> None:
    build({"primary": {"instance_type": "Standard_E16_v3"}, "core": {"count": 5, "instance_type": "r5.2xlarge"}})
    roles = {role["name"]: role for role in properties(mocks)["computeProfile"]["roles"]}
    assert set(roles) == {"headnode", "workernode"}
    assert (roles["headnode"]["targetInstanceCount"], roles["headnode"]["hardwareProfile"]["vmSize"]) == (
        2, "Standard_E16_v3")
    assert (roles["workernode"]["targetInstanceCount"], roles["workernode"]["hardwareProfile"]["vmSize"]) == (
        5, "Standard_E8_v3")  # r5.2xlarge: 8 vCPUs


def test_every_node_is_in_the_environments_subnet(mocks: AzureMocks) -> None:
    build({})
    for role in properties(mocks)["computeProfile"]["roles"]:
        assert role["virtualNetworkProfile"] == {"id": VNET_ID, "subnet": SUBNET_ID}


def test_the_logins_are_secrets_and_nowhere_in_plain_text(mocks: AzureMocks) -> None:
    outputs = build({})
    cluster = mocks.one(CLUSTER).inputs
    configurations = properties(mocks)["clusterDefinition"]["configurations"]
    gateway = configurations["gateway"]
    assert gateway["restAuthCredential.isEnabled"] is True and gateway["restAuthCredential.username"] == "admin"
    assert gateway["restAuthCredential.password"] == outputs["password"] == "Mock-env-gateway-Passw0rd!"
    ssh_passwords = {role["osProfile"]["linuxOperatingSystemProfile"]["password"]
                     for role in properties(mocks)["computeProfile"]["roles"]}
    assert ssh_passwords == {"Mock-env-ssh-Passw0rd!"}
    assert not [s for s in plain_strings(cluster) if "Passw0rd" in s]
    passwords = {r.name: r.inputs for r in mocks.of_type("random:index/randomPassword:RandomPassword")}
    for rules in passwords.values():  # HDInsight's rules: 10+ characters, upper, lower, digit, symbol
        assert rules["length"] >= 10 and rules["minUpper"] == rules["minLower"] == 1
        assert rules["minNumeric"] == rules["minSpecial"] == 1 and not set("'\"`\\") & set(rules["overrideSpecial"])


def test_storage_is_adls_gen2_https_only_tls_1_2_and_private(mocks: AzureMocks) -> None:
    outputs = build({"log_retention_days": 9})
    account = mocks.one(ACCOUNT).inputs
    assert (account["kind"], account["isHnsEnabled"]) == ("StorageV2", True)
    assert account["enableHttpsTrafficOnly"] is True and account["minimumTlsVersion"] == "TLS1_2"
    assert account["allowBlobPublicAccess"] is False and account["tags"] == TAGS
    assert mocks.one("azure-native:storage:BlobContainer").inputs["publicAccess"] == "None"
    [storage_account] = properties(mocks)["storageProfile"]["storageaccounts"]
    account_name = storage_account_name("env", "env-rg/spark")  # not the NFS account's name
    assert storage_account == {"name": f"{account_name}.dfs.core.windows.net", "isDefault": True, "fileSystem": "spark",
                               "resourceId": ACCOUNT_ID, "msiResourceId": IDENTITY_ID}
    [rule] = mocks.one("azure-native:storage:ManagementPolicy").inputs["policy"]["rules"]
    assert rule["definition"]["filters"]["prefixMatch"] == ["spark/app-logs/"]
    assert rule["definition"]["actions"]["baseBlob"]["delete"] == {"daysAfterModificationGreaterThan": 9}
    assert outputs["container"] == f"https://{account_name}.blob.core.windows.net/spark"
    assert outputs["livy"] == "https://env-spark.azurehdinsight.net/livy"


def test_the_identity_owns_that_one_account_and_the_deployer_may_upload(mocks: AzureMocks) -> None:
    build({})
    cluster = mocks.one(CLUSTER).inputs
    assert cluster["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {IDENTITY_ID: {}}}
    roles = {r.inputs["principalId"]: r.inputs for r in mocks.of_type(ROLE)}
    owner, uploads = roles["principal-of-env-hdinsight"], roles["deployer-object-id"]
    assert owner["roleDefinitionId"] == f"/subscriptions/sub-1/providers/Microsoft.Authorization/roleDefinitions/" \
                                        f"{BLOB_DATA_OWNER}"
    assert uploads["roleDefinitionId"].endswith(f"/roleDefinitions/{BLOB_DATA_CONTRIBUTOR}")
    assert owner["scope"] == uploads["scope"] == ACCOUNT_ID
    # each names its principal's real type (Azure refuses a mismatch; azure-native would say User): the cluster's
    # managed identity, and the deployer as given (a CI service principal here)
    assert owner["principalType"] == uploads["principalType"] == "ServicePrincipal"


def test_emr_configurations_become_hdinsight_config_types(mocks: AzureMocks) -> None:
    build({"configurations": {"spark-defaults": {"spark.sql.adaptive.enabled": "true"},
                              "yarn-site": {"yarn.nodemanager.vmem-check-enabled": "false"}}})
    configurations = properties(mocks)["clusterDefinition"]["configurations"]
    assert configurations["spark3-defaults"] == {"spark.sql.adaptive.enabled": "true"}
    assert configurations["yarn-site"] == {"yarn.nodemanager.vmem-check-enabled": "false"}
    assert set(configurations) == {"gateway", "spark3-defaults", "yarn-site"}


@pytest.mark.parametrize(("spark", "field"), [
    ({"release_label": "emr-7.5.0"}, "spark.release_label"),
    ({"fleets": True}, "spark.fleets"),
    ({"core": {"spot": True}}, "spark.core.spot"),
    ({"task": {"count": 2}}, "spark.task.count"),
    ({"bootstrap": ["install.sh"]}, "spark.bootstrap"),
    ({"read_buckets": ["my-data"]}, "spark.read_buckets"),
    ({"step_concurrency": 2}, "spark.step_concurrency"),
    ({"idle_timeout_minutes": 30}, "spark.idle_timeout_minutes"),
    ({"keep_alive": False}, "spark.idle_timeout_minutes"),
    ({"applications": ["Spark", "Presto"]}, r"spark.applications\[1\]"),
    ({"configurations": {"emrfs-site": {"fs.s3.consistent": "true"}}}, "spark.configurations.emrfs-site"),
    ({"primary": {"instance_type": "m5.large"}}, "spark.primary.instance_type"),
    ({"core": {"instance_type": "Basic_A1"}}, "spark.core.instance_type"),
])
def test_what_hdinsight_cannot_honour_is_refused_before_any_resource(mocks: AzureMocks, spark: dict[str, Any],
                                                                     field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: ") as refused:
        build(spark)
    assert "\n" not in str(refused.value)
    assert mocks.resources == []


def test_the_default_section_is_accepted_with_ec2_sizes_mapped() -> None:
    check_spark(Spark())  # emr-7.5.0 and the idle timeout are defaults, not asked for
    assert vm_size("f", "m5.xlarge") == "Standard_E4_v3" and vm_size("f", "c5.16xlarge") == "Standard_E64_v3"
    assert vm_size("f", "Standard_D13_v2") == "Standard_D13_v2"
