"""The spark section of the spec: EMR defaults, values normalised the way EMR takes them, one-line errors."""

from pathlib import Path

import pytest

from spec.environment import Spark
from spec.loader import load_spec_text, load_stack_config
from tests.test_spec import error_of

ROOT = Path(__file__).resolve().parent.parent
AWS = "target: aws\nregion: us-east-1\nssh: {allowed_cidr: 198.51.100.0/24}\nstack: spark\n"


def test_defaults_are_a_small_on_demand_emr_7_cluster_that_stops_when_idle():
    spark = load_spec_text(AWS + "spark: {}").spark
    assert spark is not None
    assert (spark.release_label, spark.applications, spark.fleets) == ("emr-7.5.0", ["Spark", "Hadoop"], False)
    assert spark.primary.instance_type == "m5.xlarge"
    assert (spark.core.count, spark.core.instance_type, spark.core.spot) == (2, "m5.xlarge", False)
    assert (spark.task.count, spark.task.spot) == (0, True)
    assert (spark.step_concurrency, spark.keep_alive, spark.idle_timeout_minutes) == (1, True, 60)
    assert spark.bootstrap == [] and spark.configurations == {} and spark.read_buckets == []
    assert spark.log_retention_days == 30


def test_the_shipped_spark_stack_config_loads():
    env = load_stack_config("spark-dev", ROOT)
    assert (env.name, env.target, env.stack, env.region) == ("spark-dev", "aws", "spark", "us-east-1")
    assert env.spark is not None and env.spark.fleets and env.spark.task.count == 2
    assert env.spark.configurations["spark-defaults"]["spark.sql.adaptive.enabled"] == "true"


def test_configuration_values_become_the_strings_emr_takes():
    spark = Spark.model_validate({"configurations": {
        "spark-defaults": {"spark.executor.cores": 4, "spark.dynamicAllocation.enabled": True,
                           "spark.memory.fraction": 0.6, "spark.app.name": "counts"},
        "yarn-site": {"yarn.nodemanager.vmem-check-enabled": False}}})
    assert spark.configurations == {
        "spark-defaults": {"spark.executor.cores": "4", "spark.dynamicAllocation.enabled": "true",
                           "spark.memory.fraction": "0.6", "spark.app.name": "counts"},
        "yarn-site": {"yarn.nodemanager.vmem-check-enabled": "false"}}


def test_spark_may_be_spelled_in_any_case_and_other_applications_join_it():
    assert Spark.model_validate({"applications": ["spark", "Hive", "JupyterEnterpriseGateway"]}).applications == [
        "spark", "Hive", "JupyterEnterpriseGateway"]


def test_a_spark_section_is_required_for_the_spark_stack():
    assert error_of(AWS) == "spec error: spark: required for stack spark (e.g. spark: {core: {count: 2}})"


LABEL_RULE = "allowed: an EMR release label from emr-6.4.0 on (idle auto-termination needs it), such as emr-7.5.0"


@pytest.mark.parametrize("text, message", [
    ("spark: {release_label: emr-6.3.1}", f"spark.release_label = 'emr-6.3.1': {LABEL_RULE}"),
    ("spark: {release_label: '7.5.0'}", f"spark.release_label = '7.5.0': {LABEL_RULE}"),
    ("spark: {release_label: emr-7.5}", f"spark.release_label = 'emr-7.5': {LABEL_RULE}"),
    ("spark: {applications: [Hadoop, Hive]}",
     "spark.applications = ['Hadoop', 'Hive']: allowed: a list that includes Spark"),
    ("spark: {applications: [Spark, Hive, hive]}", "spark.applications[2] = 'hive': allowed: each application once"),
    ("spark: {applications: [Spark, 'Hive; rm -rf /']}",
     "spark.applications[1] = 'Hive; rm -rf /': allowed: an EMR application name such as Spark"),
    ("spark: {primary: {instance_type: 'm5 xlarge'}}",
     "spark.primary.instance_type = 'm5 xlarge': allowed: an instance type name such as c5n.large or Standard_D4s_v5"),
    ("spark: {core: {count: 0}}", "spark.core.count = 0: allowed: an integer from 1 to 1000"),
    ("spark: {core: {spot: sometimes}}", "spark.core.spot = 'sometimes': allowed: true or false"),
    ("spark: {task: {count: -1}}", "spark.task.count = -1: allowed: an integer from 0 to 1000"),
    ("spark: {fleets: 2}", "spark.fleets = 2: allowed: true or false"),
    ("spark: {step_concurrency: 257}", "spark.step_concurrency = 257: allowed: an integer from 1 to 256"),
    ("spark: {idle_timeout_minutes: 10081}",
     "spark.idle_timeout_minutes = 10081: allowed: an integer from 1 to 10080"),
    ("spark: {log_retention_days: 0}", "spark.log_retention_days = 0: allowed: an integer from 1 to 3650"),
    ("spark: {bootstrap: [3]}", "spark.bootstrap[0] = 3: allowed: a script path such as bootstrap/install.sh"),
    ("spark: {read_buckets: [Data_Bucket]}",
     "spark.read_buckets[0] = 'Data_Bucket': allowed: an S3 bucket name such as my-data"),
    ("spark: {configurations: [spark-defaults]}",
     "spark.configurations = ['spark-defaults']: allowed: a mapping of classifications (such as spark-defaults) "
     "to properties"),
    ("spark: {configurations: {Spark_Defaults: {a: 1}}}",
     "spark.configurations.Spark_Defaults = 'Spark_Defaults': allowed: a configuration classification such as "
     "spark-defaults"),
    ("spark: {configurations: {spark-defaults: 4}}",
     "spark.configurations.spark-defaults = 4: allowed: a mapping of property names to values, such as "
     "{spark.executor.cores: 4}"),
    ("spark: {configurations: {spark-defaults: {spark.jars: [a, b]}}}",
     "spark.configurations.spark-defaults.spark.jars = ['a', 'b']: allowed: a string, a number or true/false"),
    ("spark: {configurations: {spark-defaults: {spark.jars: null}}}",
     "spark.configurations.spark-defaults.spark.jars = None: allowed: a string, a number or true/false"),
    ("spark: {core: {size: 3}}", "spark.core.size: unknown field; allowed fields: count, instance_type, spot"),
    ("spark: {masters: 3}", "spark.masters: unknown field; allowed fields: release_label, applications, primary, "
                            "core, task, fleets, bootstrap, configurations, step_concurrency, keep_alive, "
                            "idle_timeout_minutes, log_retention_days, read_buckets"),
])
def test_error_names_field_value_and_what_is_allowed(text, message):
    assert error_of(AWS + text) == f"spec error: {message}"
