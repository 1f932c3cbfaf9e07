"""A Spark cluster on HDInsight in the environment's cluster subnet, with its own ADLS Gen2 account, which is
the cluster's default file system and where `invoke submit-spark` puts each job under ``jobs/<id>/``.

The spec's spark section is EMR-shaped. What maps is honoured: core nodes are HDInsight's worker nodes, the
primary's and core's instance types become Azure sizes, ``configurations`` go to the matching Ambari config
types, ``log_retention_days`` expires YARN's logs in the account. What HDInsight cannot do is refused with one
line naming the field: fleets and spot capacity, task nodes, bootstrap scripts (HDInsight runs script actions
from URIs), S3 read buckets, an EMR release label, step concurrency, and the idle timeout: an HDInsight cluster
never ends by itself and bills every minute until `invoke destroy`.

The gateway (Livy, Ambari) answers on ``https://<cluster>.azurehdinsight.net`` with the cluster login, a
generated secret; the subnet's security group (``AzureNetwork`` with ``spark_gateway``) admits HTTPS to it from
the HDInsight service's management traffic and the client CIDR only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.hdinsight as hdinsight
import pulumi_azure_native.managedidentity as managedidentity
import pulumi_azure_native.storage as storage
import pulumi_random as random
from pulumi import Input, Output

from components.azure.storage import account_name
from spec import environment as spec

CLUSTER_VERSION, SPARK_VERSION = "5.1", "3.3"  # HDInsight 5.1: Spark 3.3, Hadoop 3.3 (the current line)
HEAD_NODES = 2  # HDInsight always runs two head nodes
# ... and, in the same subnet, three ZooKeeper nodes and two gateway nodes of its own choosing
HIDDEN_NODES = 3 + 2


def subnet_addresses(spark: spec.Spark) -> int:
    """How many addresses of its subnet the cluster takes: every node HDInsight runs, the hidden ones too."""
    return HEAD_NODES + spark.core.count + HIDDEN_NODES
GATEWAY_USER, SSH_USER = "admin", "sshuser"  # HDInsight's documented defaults; the two must differ
FILE_SYSTEM = "spark"  # the account's one container: the cluster's default file system and the jobs' folder
YARN_LOGS = "app-logs/"  # where HDInsight's YARN aggregates container logs in the default file system
# Built-in role ids: HDInsight documents Storage Blob Data Owner on the account for its ADLS Gen2 identity;
# the deploying principal uploads scripts and reads results through the data plane (Contributor suffices).
BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
APPLICATIONS = ("spark", "hadoop", "hive", "livy")  # what an HDInsight Spark cluster runs
# EMR classification -> Ambari config type on HDInsight 5.x (Spark 3 has its own types there).
CONFIG_TYPES = {"spark-defaults": "spark3-defaults", "spark-env": "spark3-env", "core-site": "core-site",
                "hdfs-site": "hdfs-site", "yarn-site": "yarn-site", "mapred-site": "mapred-site",
                "hive-site": "hive-site"}
# An EC2 size's vCPU count: the Azure size keeps it, in the memory-optimised Ev3 family HDInsight uses by
# default for Spark (8 GiB per vCPU). Below 4 vCPUs HDInsight refuses head nodes, so 2-vCPU sizes are refused.
EC2_SIZE = re.compile(r"[a-z][a-z0-9-]*\.(\d*)xlarge")
VCPUS = {"": 4, "2": 8, "4": 16, "8": 32, "16": 64}


@dataclass(frozen=True)
class AzureSparkClusterArgs:
    spark: spec.Spark
    resource_group_name: Input[str]
    location: str
    vnet_id: Input[str]
    subnet_id: Input[str]  # the network's cluster subnet
    uploader_object_id: Input[str]  # the deploying principal: it uploads jobs and downloads results
    uploader_principal_type: Input[str]  # ... a User or a ServicePrincipal (components/azure/principal.py)
    subscription_id: Input[str]
    tags: dict[str, str]


def vm_size(field: str, instance_type: str) -> str:
    """An Azure size as given; an EC2 ``<family>.<n>xlarge`` as the Ev3 size of the same vCPU count."""
    if instance_type.startswith("Standard_"):
        return instance_type
    match = EC2_SIZE.fullmatch(instance_type)
    if match and match[1] in VCPUS:
        return f"Standard_E{VCPUS[match[1]]}_v3"
    raise ValueError(f"{field}: {instance_type} has no HDInsight size; give an Azure size such as Standard_E8_v3 "
                     "(EC2 sizes xlarge to 16xlarge map to Ev3 with the same vCPUs)")


def hdinsight_configurations(configurations: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The spec's EMR classifications as HDInsight's config types; one it has no counterpart for is refused."""
    result: dict[str, dict[str, str]] = {}
    for classification, properties in sorted(configurations.items()):
        if classification not in CONFIG_TYPES:
            raise ValueError(f"spark.configurations.{classification}: no HDInsight counterpart; use one of "
                             f"{', '.join(CONFIG_TYPES)}")
        result[CONFIG_TYPES[classification]] = dict(properties)
    return result


def check_spark(spark: spec.Spark) -> None:
    """Refuse, one line naming the field, what HDInsight cannot honour (defaults it cannot honour are the
    documented differences: no idle timeout, HDInsight's own release)."""
    given = spark.model_fields_set
    refusals = [
        ("release_label" in given, "spark.release_label", "an EMR release; HDInsight runs its own "
         f"({CLUSTER_VERSION}, Spark {SPARK_VERSION}): remove it on target azure"),
        (spark.fleets, "spark.fleets", "HDInsight has no instance fleets: remove it on target azure"),
        (spark.core.spot, "spark.core.spot", "HDInsight has no spot worker nodes: set it to false"),
        (spark.task.count > 0, "spark.task.count", "HDInsight has no task nodes: add them to core.count"),
        (bool(spark.bootstrap), "spark.bootstrap", "HDInsight runs script actions from URIs, not local scripts: "
         "remove it on target azure"),
        (bool(spark.read_buckets), "spark.read_buckets", "S3 buckets cannot be read from HDInsight: remove them"),
        ("step_concurrency" in given, "spark.step_concurrency", "Livy runs batches side by side (YARN's queue "
         "shares the cluster): remove it on target azure"),
        ("idle_timeout_minutes" in given or not spark.keep_alive, "spark.idle_timeout_minutes",
         "an HDInsight cluster never ends by itself (it bills until `invoke destroy`): remove idle_timeout_minutes "
         "and keep_alive on target azure"),
    ]
    for refused, field, why in refusals:
        if refused:
            raise ValueError(f"{field}: {why}")
    for index, application in enumerate(spark.applications):
        if application.lower() not in APPLICATIONS:
            raise ValueError(f"spark.applications[{index}]: {application} is not part of an HDInsight Spark "
                             f"cluster (it runs {', '.join(APPLICATIONS)})")
    vm_size("spark.primary.instance_type", spark.primary.instance_type)
    vm_size("spark.core.instance_type", spark.core.instance_type)
    hdinsight_configurations(spark.configurations)


def _password(name: str, parent: pulumi.Resource) -> random.RandomPassword:
    """HDInsight's rules for both logins: 10 or more characters with an upper and a lower case letter, a digit
    and a symbol other than ' " ` and backslash."""
    return random.RandomPassword(name, length=24, min_upper=1, min_lower=1, min_numeric=1, min_special=1,
                                 override_special="!#%*+-=?_", opts=pulumi.ResourceOptions(parent=parent))


class AzureSparkCluster(pulumi.ComponentResource):
    """HDInsight Spark cluster, its ADLS Gen2 account and file system, identity, logins and gateway rules."""

    cluster_name: pulumi.Output[str]
    livy_url: pulumi.Output[str]
    container_url: pulumi.Output[str]
    gateway_user: str
    gateway_password: pulumi.Output[str]

    def __init__(self, name: str, args: AzureSparkClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        check_spark(args.spark)
        super().__init__("cloud-hpc-toolkit:azure:SparkCluster", name, None, opts)
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)
        where = {"resource_group_name": args.resource_group_name, "location": args.location, "tags": args.tags}

        account, file_system = self._storage(child)
        identity = managedidentity.UserAssignedIdentity(f"{name}-hdinsight", **where, opts=child)
        owner = authorization.RoleAssignment(
            f"{name}-hdinsight-storage", principal_id=identity.principal_id, principal_type="ServicePrincipal",
            role_definition_id=self._role(BLOB_DATA_OWNER), scope=account.id, opts=child)
        # Azure refuses an assignment whose principal type is not the principal's, and azure-native says User
        # unless told: a deploy by a service principal (CI) would fail.
        authorization.RoleAssignment(
            f"{name}-uploads", principal_id=args.uploader_object_id, principal_type=args.uploader_principal_type,
            role_definition_id=self._role(BLOB_DATA_CONTRIBUTOR), scope=account.id, opts=child)
        gateway_password, ssh_password = _password(f"{name}-gateway", self), _password(f"{name}-ssh", self)

        spark = args.spark
        configurations: dict[str, Any] = {
            "gateway": {"restAuthCredential.isEnabled": True, "restAuthCredential.username": GATEWAY_USER,
                        "restAuthCredential.password": gateway_password.result},
            **hdinsight_configurations(spark.configurations)}
        login = hdinsight.OsProfileArgs(linux_operating_system_profile=hdinsight.LinuxOperatingSystemProfileArgs(
            username=SSH_USER, password=ssh_password.result))
        subnet = hdinsight.VirtualNetworkProfileArgs(id=args.vnet_id, subnet=args.subnet_id)

        def role(role_name: str, count: int, size: str) -> hdinsight.RoleArgs:
            return hdinsight.RoleArgs(name=role_name, target_instance_count=count, os_profile=login,
                                      hardware_profile=hdinsight.HardwareProfileArgs(vm_size=size),
                                      virtual_network_profile=subnet)

        cluster = hdinsight.Cluster(
            f"{name}-spark", **where,
            identity=hdinsight.ClusterIdentityArgs(type="UserAssigned",
                                                   user_assigned_identities=identity.id.apply(lambda i: {i: {}})),
            properties=hdinsight.ClusterCreatePropertiesArgs(
                cluster_version=CLUSTER_VERSION, os_type="Linux", tier="Standard", min_supported_tls_version="1.2",
                cluster_definition=hdinsight.ClusterDefinitionArgs(
                    kind="Spark", component_version={"Spark": SPARK_VERSION},
                    configurations=Output.secret(configurations)),
                compute_profile=hdinsight.ComputeProfileArgs(roles=[
                    role("headnode", HEAD_NODES, vm_size("spark.primary.instance_type", spark.primary.instance_type)),
                    role("workernode", spark.core.count, vm_size("spark.core.instance_type",
                                                                 spark.core.instance_type))]),
                # IPsec between the cluster's nodes; the gateway and the storage are TLS already.
                encryption_in_transit_properties=hdinsight.EncryptionInTransitPropertiesArgs(
                    is_encryption_in_transit_enabled=True),
                storage_profile=hdinsight.StorageProfileArgs(storageaccounts=[hdinsight.StorageAccountArgs(
                    name=Output.concat(account.name, ".dfs.core.windows.net"), is_default=True,
                    file_system=file_system.name, resource_id=account.id, msi_resource_id=identity.id)])),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[owner]))

        self.cluster_name = cluster.name
        self.livy_url = Output.concat("https://", cluster.name, ".azurehdinsight.net/livy")
        self.container_url = Output.concat("https://", account.name, ".blob.core.windows.net/", file_system.name)
        self.gateway_user = GATEWAY_USER
        self.gateway_password = Output.secret(gateway_password.result)
        self.register_outputs({"cluster_name": self.cluster_name, "livy_url": self.livy_url,
                               "container_url": self.container_url, "gateway_password": self.gateway_password})

    def _role(self, role_id: str) -> Output[str]:
        return Output.concat("/subscriptions/", self._args.subscription_id,
                             f"/providers/Microsoft.Authorization/roleDefinitions/{role_id}")

    def _storage(self, child: pulumi.ResourceOptions) -> tuple[storage.StorageAccount, storage.BlobContainer]:
        """ADLS Gen2 (hierarchical namespace), HTTPS and TLS 1.2 only, nothing public; YARN's logs expire."""
        args = self._args
        account = storage.StorageAccount(
            f"{self._name}-spark",
            # another name than the NFS account's of the same environment (components/azure/storage.py)
            account_name=Output.from_input(args.resource_group_name).apply(
                lambda group: account_name(self._name, f"{group}/spark")),
            resource_group_name=args.resource_group_name, location=args.location, kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_LRS"), is_hns_enabled=True, enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2", allow_blob_public_access=False,
            encryption=storage.EncryptionArgs(
                key_source="Microsoft.Storage", require_infrastructure_encryption=True,
                services=storage.EncryptionServicesArgs(blob=storage.EncryptionServiceArgs(enabled=True,
                                                                                           key_type="Account"))),
            tags=args.tags, opts=child)
        file_system = storage.BlobContainer(f"{self._name}-spark", account_name=account.name,
                                            resource_group_name=args.resource_group_name, container_name=FILE_SYSTEM,
                                            public_access=storage.PublicAccess.NONE, opts=child)
        storage.ManagementPolicy(
            f"{self._name}-spark-logs", account_name=account.name, resource_group_name=args.resource_group_name,
            management_policy_name="default", policy=storage.ManagementPolicySchemaArgs(rules=[
                storage.ManagementPolicyRuleArgs(
                    name="expire-yarn-logs", type="Lifecycle", enabled=True,
                    definition=storage.ManagementPolicyDefinitionArgs(
                        filters=storage.ManagementPolicyFilterArgs(blob_types=["blockBlob"],
                                                                   prefix_match=[f"{FILE_SYSTEM}/{YARN_LOGS}"]),
                        actions=storage.ManagementPolicyActionArgs(base_blob=storage.ManagementPolicyBaseBlobArgs(
                            delete=storage.DateAfterModificationArgs(
                                days_after_modification_greater_than=args.spark.log_retention_days)))))]),
            opts=child)
        return account, file_system
