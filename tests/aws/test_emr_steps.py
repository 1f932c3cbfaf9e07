"""Spark steps on EMR against a real moto_server.

What moto 5.2.5 does with EMR (moto/emr/models.py): ``run_job_flow`` gives a WAITING cluster, ``add_job_flow_steps``
stores the step RUNNING (PENDING behind another) and nothing ever moves it on; no step runs, so nothing writes
output or logs, and ``CancelSteps`` is not implemented. The tests therefore play the cluster through botocore
events on the test's session, as tests/aws/test_ecs_tasks.py plays the container: each ``DescribeStep`` answer
is rewritten to the next state of a script, and when the step ends the test writes what EMR would have written
to S3 (the job's output files, the step's gzipped stderr, the driver's container log). ``CancelSteps`` is
answered by the test, which records the request.
"""

from __future__ import annotations

import gzip
import io
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from remote.spark_args import ScriptArgsError
from spec.outputs import SparkCluster
from targets.aws import emr_step_once
from targets.aws.emr_steps import follow_emr, submit_emr
from targets.aws.errors import AwsError
from targets.errors import TargetError
from targets.spark_job_records import JobRecords
from targets.spark_jobs import modules_zip
from tests.aws import moto_fixture
from tests.aws.moto_server import MotoSession, fail_calls

moto, aws_session = moto_fixture.moto, moto_fixture.aws_session  # the moto_server fixtures, by name

BUCKET = "chpc-spark-bucket"
APP = "application_1700000000000_0003"
TRACEBACK = '''Traceback (most recent call last):
  File "/mnt/yarn/usercache/hadoop/appcache/application_1700000000000_0003/wordcount.py", line 12, in <module>
    counts = words.map(parse).collect()
  File "/mnt/yarn/usercache/hadoop/appcache/application_1700000000000_0003/wordcount.py", line 5, in parse
    raise ValueError(f"bad record: {line!r}")
ValueError: bad record: 'x'
'''
SUCCEEDED_STDERR = f'''25/01/01 12:00:00 INFO Client: Submitting application {APP} to ResourceManager
25/01/01 12:00:09 INFO Client: Application report for {APP} (state: FINISHED)
'''
CLUSTER_MODE_STDERR = f'''25/01/01 12:00:00 INFO Client: Submitting application {APP} to ResourceManager
25/01/01 12:00:09 INFO Client: Application report for {APP} (state: FAILED)
Exception in thread "main" org.apache.spark.SparkException: Application {APP} finished with failed status
\tat org.apache.spark.deploy.yarn.Client.run(Client.scala:1290)
\tat org.apache.spark.deploy.SparkSubmit.main(SparkSubmit.scala)
'''


@pytest.fixture
def spark(aws_session) -> SparkCluster:
    aws_session.client("s3").create_bucket(Bucket=BUCKET)
    cluster = aws_session.client("emr").run_job_flow(
        Name="spark-dev", ReleaseLabel="emr-7.5.0", LogUri=f"s3://{BUCKET}/logs/", Applications=[{"Name": "Spark"}],
        Instances={"MasterInstanceType": "m5.xlarge", "SlaveInstanceType": "m5.xlarge", "InstanceCount": 3,
                   "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="spark-dev-emr-ec2", ServiceRole="spark-dev-emr-service")["JobFlowId"]
    return SparkCluster(provider="aws", master=cluster, region="us-east-1", bucket=BUCKET,
                        log_uri=f"s3://{BUCKET}/logs/")


class Cluster:
    """Plays EMR: each DescribeStep answer takes the next state of ``states`` (the last one stays), and when the
    step reaches it, ``on_end`` writes to S3 what the job and EMR would have written."""

    def __init__(self, session, spark: SparkCluster, states: list[str], failure: dict[str, str] | None = None) -> None:
        self.s3, self.spark = session.client("s3"), spark
        self.pending, self.failure = list(states), failure
        self.on_end: list[Any] = []
        self.timeline: list[str] = []
        self.cancelled: list[dict[str, Any]] = []
        session.events.register("after-call.emr.DescribeStep", self.polled)
        session.events.register("before-parameter-build.emr.CancelSteps", self.cancel_request)
        session.events.register("before-call.emr.CancelSteps", self.cancel)

    def polled(self, parsed: dict[str, Any], **_: Any) -> None:
        state = self.pending.pop(0) if len(self.pending) > 1 else self.pending[0]
        status = parsed["Step"]["Status"]
        status["State"] = state
        if state == "FAILED" and self.failure:
            status["FailureDetails"] = self.failure
        if state in ("COMPLETED", "FAILED") and self.on_end:
            for write in self.on_end:
                write(parsed["Step"])
            self.on_end = []

    def cancel_request(self, params: dict[str, Any], **_: Any) -> None:
        self.cancelled.append(dict(params))

    def cancel(self, **_: Any) -> tuple[Any, dict[str, Any]]:
        """What EMR answers (moto has no CancelSteps): the request is accepted."""
        return SimpleNamespace(status_code=200), {"CancelStepsInfoList": [
            {"StepId": self.cancelled[-1]["StepIds"][0], "Status": "SUBMITTED"}]}

    def on_state(self, state: str, elapsed: float) -> None:
        self.timeline.append(state)

    def put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)

    def log(self, step: dict[str, Any], text: str) -> None:
        self.put(f"logs/{self.spark.master}/steps/{step['Id']}/stderr.gz", gzip.compress(text.encode()))

    def driver(self, attempt: int, stdout: str, stderr: str) -> None:
        """The driver's container logs of one attempt, as EMR copies YARN's to S3."""
        folder = f"logs/{self.spark.master}/containers/{APP}/container_1700000000000_0003_{attempt:02d}_000001"
        self.put(f"{folder}/stdout.gz", gzip.compress(stdout.encode()))
        self.put(f"{folder}/stderr.gz", gzip.compress(stderr.encode()))


def objects(session, prefix: str = "") -> dict[str, bytes]:
    s3 = session.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
    return {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}


def only_step(session, spark: SparkCluster) -> dict[str, Any]:
    [summary] = session.client("emr").list_steps(ClusterId=spark.master)["Steps"]
    return session.client("emr").describe_step(ClusterId=spark.master, StepId=summary["Id"])["Step"]


@pytest.fixture
def job(tmp_path: Path) -> SimpleNamespace:
    script = tmp_path / "word count.py"
    script.write_text("import sys\nprint(sys.argv)\n")
    helper = tmp_path / "helpers.py"
    helper.write_text("def parse(line):\n    return line.split()\n")
    package = tmp_path / "textutils"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tokens.py").write_text("WORD = r'\\w+'\n")
    (package / "__pycache__" / "tokens.cpython-311.pyc").write_bytes(b"\0")
    data = tmp_path / "words.txt"
    data.write_text("a b a\nc a\n")
    return SimpleNamespace(script=script, modules=[helper, package], data=data,
                           records=JobRecords(tmp_path / "state" / "spark-jobs"))


def test_uploads_script_modules_and_input_and_adds_the_spark_submit_step(aws_session, spark, job):
    cluster = Cluster(aws_session, spark, ["PENDING", "RUNNING", "RUNNING", "COMPLETED"])

    result = submit_emr(aws_session, spark, job.script, job.records, input=str(job.data), output=None,
                        args=["--top", "3"], timeout=30, on_state=cluster.on_state, modules=job.modules, poll=0,
                        log_wait=0)

    assert (result.exit_code, result.state, result.cause, result.output_dir) == (0, "COMPLETED", None, None)
    assert cluster.timeline == ["PENDING", "RUNNING", "RUNNING", "COMPLETED"]  # followed to the end, in order
    uploaded = objects(aws_session, "jobs/")
    [prefix] = {key.split("/")[1] for key in uploaded}
    assert prefix.startswith("word-count-")
    base = f"jobs/{prefix}/"
    # a space in the name would make spark-submit take the S3 location for a local path
    assert set(uploaded) == {f"{base}word_count.py", f"{base}modules.zip", f"{base}input/words.txt"}
    assert uploaded[f"{base}word_count.py"] == job.script.read_bytes()
    assert uploaded[f"{base}input/words.txt"] == b"a b a\nc a\n"
    archive = zipfile.ZipFile(io.BytesIO(uploaded[f"{base}modules.zip"]))
    assert sorted(archive.namelist()) == ["helpers.py", "textutils/__init__.py", "textutils/tokens.py"]

    step = only_step(aws_session, spark)
    assert step["Id"] == result.cluster_job_id and step["ActionOnFailure"] == "CONTINUE"
    location = f"s3://{BUCKET}/{base}"
    assert step["Config"]["Jar"] == "command-runner.jar"
    assert step["Config"]["Args"] == [
        "spark-submit", "--deploy-mode", "cluster", "--py-files", f"{location}modules.zip",
        f"{location}word_count.py", f"{location}input/words.txt", f"{location}output", "--top", "3"]
    assert result.output_uri == f"{location}output"
    assert result.logs == f"s3://{BUCKET}/logs/{spark.master}/steps/{result.cluster_job_id}/"
    # no log ever reached S3 here: the bounded wait ends with where to read what the driver printed
    assert result.stdout == "" and result.note == (
        f"what the driver printed was not in s3://{BUCKET}/logs/{spark.master}/containers/ after 0 s (EMR copies logs "
        "to S3 every few minutes): read its stdout.gz there later")
    assert job.records.ids() == []  # followed to its end: nothing left to attach to


def test_a_step_whose_answer_was_lost_is_found_by_its_token_and_never_added_twice(aws_session, spark, job,
                                                                                   monkeypatch):
    """EMR adds the step but its answer is lost (a read timeout): the next attempt finds the step by the token in
    its name instead of adding another. A step of an earlier submission of the same script is not taken for it."""
    monkeypatch.setattr(emr_step_once, "BACKOFF", 0)
    emr = aws_session.client("emr")
    earlier = emr.add_job_flow_steps(JobFlowId=spark.master, Steps=[{
        "Name": "submit-spark word count.py (jobs/word-count-20250101T000000Z-abcdef)", "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["true"]}}])["StepIds"][0]
    added: list[str] = []

    def lose_the_answer(parsed: dict[str, Any], **_: Any) -> None:
        added.extend(parsed["StepIds"])
        if len(added) == 1:
            raise ReadTimeoutError(endpoint_url="https://elasticmapreduce.us-east-1.amazonaws.com/")

    aws_session.events.register("after-call.emr.AddJobFlowSteps", lose_the_answer)
    cluster = Cluster(aws_session, spark, ["COMPLETED"])
    result = submit_emr(aws_session, spark, job.script, job.records, input=None, output=None, args=[], timeout=30,
                        on_state=cluster.on_state, poll=0, log_wait=0)

    assert result.exit_code == 0 and added == [result.cluster_job_id]  # added once, then found
    steps = emr.list_steps(ClusterId=spark.master)["Steps"]
    assert sorted(s["Id"] for s in steps) == sorted([earlier, result.cluster_job_id])


def test_a_step_that_cannot_be_added_after_every_attempt_is_one_line(aws_session, spark, job, monkeypatch):
    monkeypatch.setattr(emr_step_once, "BACKOFF", 0)
    calls: list[str] = []
    for operation in ("ListSteps", "AddJobFlowSteps"):
        aws_session.events.register(f"before-call.emr.{operation}", lambda model, **_: calls.append(model.name))
    fail_calls(aws_session, "emr", "AddJobFlowSteps", "InternalServerError")
    with pytest.raises(AwsError, match=r"^adding step 'submit-spark word count.py \(jobs/word-count-.*\)' to EMR "
                                       r"cluster j-\w+: .*InternalServerError.*; check the credentials") as failed:
        submit_emr(aws_session, spark, job.script, job.records, input=None, output=None, args=[], timeout=30,
                   on_state=lambda state, seconds: None, poll=0, log_wait=0)
    assert "\n" not in str(failed.value)
    assert calls == ["ListSteps", "AddJobFlowSteps"] * emr_step_once.ATTEMPTS  # each attempt looks first
    assert aws_session.client("emr").list_steps(ClusterId=spark.master)["Steps"] == []

def test_a_directory_input_goes_up_whole_and_uris_pass_through_untouched(aws_session, spark, job, tmp_path):
    folder = tmp_path / "pageviews"
    (folder / "day2").mkdir(parents=True)
    (folder / "day1.txt").write_text("en Main_Page 10 100\n")
    (folder / "day2" / "part.txt").write_text("de Spark 3 30\n")
    cluster = Cluster(aws_session, spark, ["COMPLETED"])

    submit_emr(aws_session, spark, job.script, job.records, input=str(folder), output=None, args=[], timeout=30,
               on_state=cluster.on_state, poll=0, log_wait=0)
    args = only_step(aws_session, spark)["Config"]["Args"]
    assert "--py-files" not in args
    base = args[3].removeprefix(f"s3://{BUCKET}/").rsplit("/", 1)[0]
    assert args[4] == f"s3://{BUCKET}/{base}/input/pageviews/"
    assert set(objects(aws_session, f"{base}/input/")) == {f"{base}/input/pageviews/day1.txt",
                                                           f"{base}/input/pageviews/day2/part.txt"}

    aws_session.client("emr").terminate_job_flows(JobFlowIds=[spark.master])  # a fresh cluster for the next job
    other = spark.model_copy(update={"master": aws_session.client("emr").run_job_flow(
        Name="again", ReleaseLabel="emr-7.5.0", Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1,
                                                           "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="r", ServiceRole="s")["JobFlowId"]})
    before = set(objects(aws_session))
    result = submit_emr(aws_session, other, job.script, job.records, input="s3://public-data/pageviews/2024-01-*",
                        output="s3://my-results/run-7/", args=["x"], timeout=30, on_state=cluster.on_state, poll=0,
                        log_wait=0)
    args = only_step(aws_session, other)["Config"]["Args"]
    assert args[-3:] == ["s3://public-data/pageviews/2024-01-*", "s3://my-results/run-7/", "x"]
    assert result.output_uri == "s3://my-results/run-7/" and result.output_dir is None
    assert {key for key in set(objects(aws_session)) - before if "/input/" in key} == set()


def test_a_local_output_directory_receives_the_jobs_files_when_it_completes(aws_session, spark, job, tmp_path):
    cluster = Cluster(aws_session, spark, ["RUNNING", "COMPLETED"])

    def write_output(step: dict[str, Any]) -> None:
        output = step["Config"]["Args"][-1].removeprefix(f"s3://{BUCKET}/")
        cluster.put(f"{output}/part-00000", b"a\t3\n")
        cluster.put(f"{output}/part-00001", b"b\t1\nc\t1\n")
        cluster.put(f"{output}/_SUCCESS", b"")
        cluster.put(f"{output}/day=1/part-00002", b"d\t1\n")
        cluster.put(f"{output}/day=1/", b"")  # a folder marker, as the S3 console makes: not a file
        cluster.put(f"{output}/", b"")  # the output folder's own marker

    cluster.on_end.append(write_output)
    target = tmp_path / "results" / "counts"
    result = submit_emr(aws_session, spark, job.script, job.records, input=str(job.data), output=str(target), args=[],
                        timeout=30, on_state=cluster.on_state, poll=0, log_wait=0)

    assert result.exit_code == 0 and result.output_dir == target
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "_SUCCESS", "day=1", "day=1/part-00002", "part-00000", "part-00001"]
    assert (target / "part-00000").read_text() + (target / "part-00001").read_text() == "a\t3\nb\t1\nc\t1\n"
    assert only_step(aws_session, spark)["Config"]["Args"][-1] == result.output_uri



@pytest.mark.parametrize(("keys", "named"), [
    (["part-00000", "../escape.txt"], "result '../escape.txt' has an empty, '.' or '..' part"),
    (["part-00000", "a", "a/b"], "result 'a' is both a file and a folder (it holds 'a/b')"),
])
def test_keys_that_cannot_be_files_in_the_output_folder_are_named_and_nothing_is_downloaded(
        aws_session, spark, job, tmp_path, keys, named):
    cluster = Cluster(aws_session, spark, ["COMPLETED"])
    prefix: list[str] = []

    def write_output(step: dict[str, Any]) -> None:
        prefix.append(step["Config"]["Args"][-1].removeprefix(f"s3://{BUCKET}/") + "/")
        for key in keys:
            cluster.put(f"{prefix[0]}{key}", b"x")

    cluster.on_end.append(write_output)
    target = tmp_path / "results" / "counts"
    with pytest.raises(AwsError) as refused:
        submit_emr(aws_session, spark, job.script, job.records, input=None, output=str(target), args=[], timeout=30,
                   on_state=cluster.on_state, poll=0, log_wait=0)
    message = str(refused.value)
    assert message.startswith(f"downloading s3://{BUCKET}/{prefix[0]} into {target}: {named}")
    assert f"the results stay in s3://{BUCKET}/{prefix[0]}" in message and "--attach" in message
    assert "\n" not in message
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if "results" in p.parts) == [
        "results", "results/counts"]

def test_a_failed_step_gives_the_python_traceback_from_its_stderr(aws_session, spark, job):
    cluster = Cluster(aws_session, spark, ["RUNNING", "FAILED"])
    noise = "25/01/01 12:00:00 INFO SparkContext: Running Spark version 3.5.2\n"
    cluster.on_end.append(lambda step: cluster.log(step, noise + TRACEBACK + "25/01/01 INFO ShutdownHookManager\n"))

    result = submit_emr(aws_session, spark, job.script, job.records, input=str(job.data), output=None, args=[],
                        timeout=30, on_state=cluster.on_state, poll=0, log_wait=5)

    assert (result.state, result.exit_code) == ("FAILED", 1)
    assert result.cause == TRACEBACK.rstrip("\n")
    assert result.cause.splitlines()[-1] == "ValueError: bad record: 'x'"


def test_in_cluster_mode_the_cause_and_exit_code_come_from_the_drivers_container_log(aws_session, spark, job):
    cluster = Cluster(aws_session, spark, ["RUNNING", "FAILED"],
                      failure={"Reason": "Unknown Error.", "Message": "Exception in thread main ..."})
    containers = f"logs/{spark.master}/containers/{APP}"
    executor = "25/01/01 WARN Executor: lost task\njava.io.IOException: Connection reset by peer\n"
    # Spark's PythonRunner sends the script's stdout and stderr (its traceback) to the container's stdout; the
    # ApplicationMaster logs to its stderr
    driver_stdout = "counting\n" + TRACEBACK.replace("ValueError: bad record: 'x'",
                                                      "ZeroDivisionError: division by zero")
    driver_stderr = ("25/01/01 INFO ApplicationMaster: Starting the user application\n"
                     "25/01/01 ERROR ApplicationMaster: User application exited with status 3\n")

    def write_logs(step: dict[str, Any]) -> None:
        cluster.log(step, CLUSTER_MODE_STDERR)
        cluster.put(f"{containers}/container_1700000000000_0003_01_000002/stderr.gz", gzip.compress(executor.encode()))
        cluster.put(f"{containers}/container_1700000000000_0003_01_000001/stderr.gz",
                    gzip.compress(driver_stderr.encode()))
        cluster.put(f"{containers}/container_1700000000000_0003_01_000001/stdout.gz",
                    gzip.compress(driver_stdout.encode()))

    cluster.on_end.append(write_logs)
    result = submit_emr(aws_session, spark, job.script, job.records, input=str(job.data), output=None, args=[],
                        timeout=30, on_state=cluster.on_state, poll=0, log_wait=5)

    assert result.exit_code == 3  # the script's own sys.exit status, not spark-submit's 1
    assert result.cause is not None and result.cause.startswith("Traceback (most recent call last):")
    assert result.cause.splitlines()[-1] == "ZeroDivisionError: division by zero"
    assert result.stdout == driver_stdout and result.note is None  # what the driver printed comes back too


def test_without_a_traceback_the_java_exception_is_the_cause(aws_session, spark, job):
    cluster = Cluster(aws_session, spark, ["FAILED"])
    cluster.on_end.append(lambda step: cluster.log(step, CLUSTER_MODE_STDERR))  # no container log ever arrives

    started = time.monotonic()
    result = submit_emr(aws_session, spark, job.script, job.records, input=str(job.data), output=None, args=[],
                        timeout=30, on_state=cluster.on_state, poll=0.05, log_wait=0.3)

    assert time.monotonic() - started < 5
    assert result.cause == (f'Exception in thread "main" org.apache.spark.SparkException: Application {APP} '
                            "finished with failed status")
    assert result.exit_code == 1


def test_logs_that_arrive_late_are_polled_for(aws_session, spark, job):
    cluster = Cluster(aws_session, spark, ["FAILED"])
    lists = []

    def arrive_on_third_look(**_: Any) -> None:
        lists.append(1)
        if len(lists) == 3:
            cluster.log(only_step(aws_session, spark), TRACEBACK)

    aws_session.events.register("before-call.s3.ListObjectsV2", arrive_on_third_look)
    result = submit_emr(aws_session, spark, job.script, job.records, input=str(job.data), output=None, args=[],
                        timeout=30, on_state=cluster.on_state, poll=0.01, log_wait=10)

    assert len(lists) == 3 and result.cause is not None
    assert result.cause.endswith("ValueError: bad record: 'x'")


def test_missing_logs_say_where_to_look_after_a_bounded_wait(aws_session, spark, job):
    cluster = Cluster(aws_session, spark, ["FAILED"], failure={"Reason": "Step failed.", "Message": "exit code 1"})

    started = time.monotonic()
    result = submit_emr(aws_session, spark, job.script, job.records, input=str(job.data), output=None, args=[],
                        timeout=30, on_state=cluster.on_state, poll=0.05, log_wait=0.3)

    assert time.monotonic() - started < 5  # not mrjob's ten minutes
    stderr = f"s3://{BUCKET}/logs/{spark.master}/steps/{result.cluster_job_id}/stderr.gz"
    assert result.cause is not None and result.cause.startswith("Step failed. exit code 1; no error found")
    assert stderr in result.cause and result.exit_code == 1


def test_a_step_still_running_at_the_timeout_is_cancelled(aws_session, spark, job):
    cluster = Cluster(aws_session, spark, ["RUNNING"])
    with pytest.raises(AwsError, match=r"step s-\w+: still RUNNING after 0 s, so it was cancelled"):
        submit_emr(aws_session, spark, job.script, job.records, input=None, output=None, args=[], timeout=0,
                   on_state=cluster.on_state, poll=0)
    step = only_step(aws_session, spark)
    assert cluster.cancelled == [{"ClusterId": spark.master, "StepIds": [step["Id"]],
                                  "StepCancellationOption": "SEND_INTERRUPT"}]
    assert step["Config"]["Args"][-1].endswith("/word_count.py")  # no --input/--output, no --args: no argument
    assert job.records.ids() == []


def test_ctrl_c_cancels_the_step_before_giving_up(aws_session, spark, job):
    cluster = Cluster(aws_session, spark, ["RUNNING"])

    def interrupt(state: str, elapsed: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        submit_emr(aws_session, spark, job.script, job.records, input=None, output=None, args=[], timeout=30,
                   on_state=interrupt, poll=0)
    assert [c["StepIds"] for c in cluster.cancelled] == [[only_step(aws_session, spark)["Id"]]]
    assert job.records.ids() == []


def lose_the_step(aws_session, spark: SparkCluster, job: SimpleNamespace, output: Path | None) -> tuple[str, str]:
    """Submit while every DescribeStep fails (the client lost EMR after adding the step): (step id, the error)."""
    cluster = Cluster(aws_session, spark, ["RUNNING"])
    fail_calls(aws_session, "emr", "DescribeStep", "ServiceUnavailableException")
    with pytest.raises(AwsError) as failed:
        submit_emr(aws_session, spark, job.script, job.records, input=str(job.data),
                   output=None if output is None else str(output), args=[], timeout=30, on_state=cluster.on_state,
                   poll=0)
    [summary] = aws_session.client("emr").list_steps(ClusterId=spark.master)["Steps"]
    assert cluster.cancelled == []  # the step is left running
    step_id = summary["Id"]
    return step_id, str(failed.value)


def test_a_follow_that_loses_emr_keeps_the_step_and_a_record_to_attach_to_later(moto, aws_session, spark, job,
                                                                                  tmp_path):
    target = tmp_path / "counts"
    step_id, error = lose_the_step(aws_session, spark, job, target)

    assert "\n" not in error and error.startswith(f"following step {step_id} of {spark.master}: ")
    assert error.endswith(f"the job keeps running on the cluster: follow it again with "
                          f"`invoke submit-spark --attach {step_id}`")
    assert job.records.ids() == [step_id]
    path = job.records.folder / f"{step_id}.json"
    assert path.stat().st_mode & 0o777 == 0o600
    record = job.records.load(step_id, spark)
    assert (record.provider, record.output_dir, record.script) == ("aws", target, "word count.py")
    assert record.output_uri == f"s3://{BUCKET}/{record.prefix}output" and record.prefix.startswith("jobs/word-count-")
    assert not target.exists()

    later = MotoSession(moto.endpoint)  # a new client, the way a new `invoke submit-spark --attach` would be
    cluster = Cluster(later, spark, ["RUNNING", "COMPLETED"])
    cluster.on_end.append(lambda step: cluster.put(f"{record.prefix}output/part-00000", b"a\t3\n"))
    result = follow_emr(later, spark, record, job.records, timeout=30, on_state=cluster.on_state, poll=0, log_wait=0)

    assert (result.exit_code, result.state, result.cluster_job_id) == (0, "COMPLETED", step_id)
    assert cluster.timeline == ["RUNNING", "COMPLETED"]
    assert result.output_dir == target and (target / "part-00000").read_text() == "a\t3\n"
    assert job.records.ids() == [] and not path.exists()


def test_a_download_that_fails_after_the_end_keeps_the_record_and_says_how_to_finish(moto, aws_session, spark, job,
                                                                                    tmp_path):
    target = tmp_path / "counts"
    step_id, _ = lose_the_step(aws_session, spark, job, target)
    later = MotoSession(moto.endpoint)
    cluster = Cluster(later, spark, ["COMPLETED"])
    record = job.records.load(step_id, spark)
    cluster.on_end.append(lambda step: cluster.put(f"{record.prefix}output/part-00000", b"a\t3\n"))
    fail_calls(later, "s3", "ListObjectsV2", "AccessDenied")
    with pytest.raises(AwsError) as failed:
        follow_emr(later, spark, record, job.records, timeout=30, on_state=cluster.on_state, poll=0)
    assert str(failed.value).startswith(f"downloading s3://{BUCKET}/{record.prefix}output/ into {target}: ")
    assert str(failed.value).endswith(f"the job has ended and its record is kept: finish it (results, cause) with "
                                      f"`invoke submit-spark --attach {step_id}`")
    assert job.records.ids() == [step_id]  # kept for the attach that finishes the download


def test_a_step_that_failed_while_nobody_followed_it_gives_its_cause_and_code_on_attach(moto, aws_session, spark,
                                                                                          job):
    step_id, _ = lose_the_step(aws_session, spark, job, None)
    later = MotoSession(moto.endpoint)
    cluster = Cluster(later, spark, ["FAILED"])
    driver = TRACEBACK + "25/01/01 ERROR ApplicationMaster: User application exited with status 3\n"
    cluster.on_end += [lambda step: cluster.log(step, CLUSTER_MODE_STDERR), lambda step: cluster.put(
        f"logs/{spark.master}/containers/{APP}/container_1700000000000_0003_01_000001/stderr.gz",
        gzip.compress(driver.encode()))]

    result = follow_emr(later, spark, job.records.load(step_id, spark), job.records, timeout=30,
                        on_state=cluster.on_state, poll=0, log_wait=5)

    assert (result.state, result.exit_code, result.cause) == ("FAILED", 3, TRACEBACK.rstrip("\n"))
    assert job.records.ids() == []


def test_a_record_of_another_cluster_is_refused_in_one_line_naming_where_the_output_is(moto, aws_session, spark,
                                                                                      job):
    step_id, _ = lose_the_step(aws_session, spark, job, None)
    remade = spark.model_copy(update={"master": "j-REMADE"})  # `invoke up` made the EMR cluster again
    with pytest.raises(TargetError, match=rf"the job ran on aws cluster {spark.master} and the environment's Spark "
                                          rf"cluster is now aws j-REMADE .* what it wrote is at s3://{BUCKET}/jobs/"):
        job.records.load(step_id, remade)


def test_a_record_that_cannot_be_written_still_names_the_step_that_runs(aws_session, spark, job, tmp_path):
    (tmp_path / "not-a-folder").write_text("")
    cluster = Cluster(aws_session, spark, ["RUNNING"])
    with pytest.raises(TargetError) as failed:
        submit_emr(aws_session, spark, job.script, JobRecords(tmp_path / "not-a-folder" / "spark-jobs"),
                   input=str(job.data), output=None, args=[], timeout=30, on_state=cluster.on_state, poll=0)
    [summary] = aws_session.client("emr").list_steps(ClusterId=spark.master)["Steps"]
    assert str(failed.value).startswith(f"job {summary['Id']} on {spark.master} was submitted and runs, but its "
                                        "record could not be written to ")
    assert "\n" not in str(failed.value) and f"results go to s3://{BUCKET}/jobs/" in str(failed.value)


def test_attaching_to_an_unknown_job_names_the_jobs_there_are(aws_session, spark, job):
    step_id, _ = lose_the_step(aws_session, spark, job, None)
    with pytest.raises(TargetError, match=rf"^submit-spark --attach s-NOPE: no record of that job in .* "
                                          rf"\(jobs to attach to: {step_id}\)$"):
        job.records.load("s-NOPE", spark)


def test_a_terminated_cluster_is_refused_before_anything_is_uploaded(aws_session, spark, job):
    aws_session.client("emr").terminate_job_flows(JobFlowIds=[spark.master])
    with pytest.raises(AwsError, match=rf"EMR cluster {spark.master} is TERMINATED .*run `invoke up` to create it"):
        submit_emr(aws_session, spark, job.script, job.records, input=str(job.data), output=None, args=[], timeout=30,
                   on_state=lambda state, elapsed: None, poll=0)
    assert objects(aws_session) == {}


@pytest.mark.parametrize("problem", ["output", "input", "script"])
def test_local_mistakes_are_refused_before_any_step(aws_session, spark, job, tmp_path, problem):
    used = tmp_path / "used"
    used.mkdir()
    (used / "old.txt").write_text("previous results")
    kwargs: dict[str, Any] = {"input": str(job.data), "output": None, "script": job.script}
    kwargs[problem] = {"output": str(used), "input": str(tmp_path / "missing.txt"),
                       "script": tmp_path / "missing.py"}[problem]
    message = {"output": "exists and is not an empty directory", "input": "--input .*missing.txt: no such file",
               "script": "--script .*missing.py: no such file"}[problem]
    with pytest.raises(TargetError, match=message):
        submit_emr(aws_session, spark, kwargs.pop("script"), job.records, args=[], timeout=30,
                   on_state=lambda state, elapsed: None, poll=0, **kwargs)
    assert aws_session.client("emr").list_steps(ClusterId=spark.master)["Steps"] == []
    assert objects(aws_session) == {}


def test_the_modules_zip_is_the_same_for_the_same_files(job):
    assert modules_zip(job.modules) == modules_zip(job.modules)


def stock_wordcount(tmp_path: Path) -> Path:
    """A script of the pattern of Spark's stock wordcount.py: one argument, or its usage line and exit status -1."""
    script = tmp_path / "wordcount.py"
    script.write_text((Path(__file__).parents[2] / "examples" / "spark" / "stock_wordcount.py").read_text())
    return script


def test_a_stock_pattern_script_gets_only_its_placed_input_and_its_printed_lines_come_back(aws_session, spark, job,
                                                                                         tmp_path):
    cluster = Cluster(aws_session, spark, ["RUNNING", "COMPLETED"])
    printed = "a: 3\nb: 1\nc: 1\n"
    cluster.on_end.append(lambda step: (cluster.log(step, SUCCEEDED_STDERR), cluster.driver(
        1, printed, "25/01/01 INFO ApplicationMaster: Final app status: SUCCEEDED, exitCode: 0\n")))

    result = submit_emr(aws_session, spark, stock_wordcount(tmp_path), job.records, input=str(job.data), output=None,
                        args=["{input}"], timeout=30, on_state=cluster.on_state, poll=0, log_wait=5)

    args = only_step(aws_session, spark)["Config"]["Args"]
    location = args[3].rsplit("/", 1)[0]
    assert args == ["spark-submit", "--deploy-mode", "cluster", f"{location}/wordcount.py",
                    f"{location}/input/words.txt"]  # exactly its one argument: no output location
    assert (result.exit_code, result.stdout, result.note) == (0, printed, None)


def test_a_stock_pattern_script_without_its_argument_fails_with_its_usage_line(aws_session, spark, job, tmp_path):
    cluster = Cluster(aws_session, spark, ["FAILED"])
    noise = ("WARNING: Using incubator modules: jdk.incubator.vector\n"
             "25/01/01 12:00:01 WARN NativeCodeLoader: Unable to load native-hadoop library for your platform\n")

    def write_logs(step: dict[str, Any]) -> None:
        cluster.log(step, CLUSTER_MODE_STDERR)
        for attempt in (1, 2):  # YARN ran the driver twice: the last attempt's lines are printed
            cluster.driver(attempt, f"attempt {attempt}\nUsage: wordcount <file>\n",
                           noise + "25/01/01 12:00:02 ERROR ApplicationMaster: User application exited with status "
                                   "255\n")

    cluster.on_end.append(write_logs)
    result = submit_emr(aws_session, spark, stock_wordcount(tmp_path), job.records, input=None, output=None, args=[],
                        timeout=30, on_state=cluster.on_state, poll=0, log_wait=5)

    assert only_step(aws_session, spark)["Config"]["Args"][-1].endswith("/wordcount.py")  # no argument at all
    assert (result.exit_code, result.cause) == (255, "Usage: wordcount <file>")
    assert result.stdout == "attempt 2\nUsage: wordcount <file>\n"


def test_args_reach_the_step_exactly_as_typed(aws_session, spark, job):
    cluster = Cluster(aws_session, spark, ["COMPLETED"])
    args = ["two  spaces", "it's", 'say "hi"', "$HOME", "$(id)", "`id`", "{{input}}", "", "a\\b;c|d"]
    submit_emr(aws_session, spark, job.script, job.records, input=None, output=None, args=args, timeout=30,
               on_state=cluster.on_state, poll=0, log_wait=0)
    assert only_step(aws_session, spark)["Config"]["Args"][4:] == [*args[:6], "{input}", "", "a\\b;c|d"]

    aws_session.client("emr").terminate_job_flows(JobFlowIds=[spark.master])  # a fresh cluster for the next job
    other = spark.model_copy(update={"master": aws_session.client("emr").run_job_flow(
        Name="again", ReleaseLabel="emr-7.5.0", Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1,
                                                           "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="r", ServiceRole="s")["JobFlowId"]})
    submit_emr(aws_session, other, job.script, job.records, input="s3://in/$x y", output="s3://out/it's",
               args=["--from={input}", "--to", "{output}", "$HOME"], timeout=30, on_state=cluster.on_state, poll=0,
               log_wait=0)
    assert only_step(aws_session, other)["Config"]["Args"][4:] == [
        "--from=s3://in/$x y", "--to", "s3://out/it's", "$HOME"]


def test_a_placeholder_without_its_location_is_refused_before_anything_is_uploaded(aws_session, spark, job):
    with pytest.raises(ScriptArgsError, match=r"^submit-spark: --args places \{output\} but no --output was given"):
        submit_emr(aws_session, spark, job.script, job.records, input=str(job.data), output=None,
                   args=["{input}", "{output}"], timeout=30, on_state=lambda state, elapsed: None, poll=0)
    assert aws_session.client("emr").list_steps(ClusterId=spark.master)["Steps"] == []
    assert objects(aws_session) == {}
