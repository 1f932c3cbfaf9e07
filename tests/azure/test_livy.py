"""submit-spark on Azure end to end, locally: uploads into a real Blob service (Azurite) and the batch through a
Livy that checks the login and the CSRF header (tests/azure/fake_livy.py), both on 127.0.0.1."""

from __future__ import annotations

import functools
import io
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient
from invoke import Context
from invoke.exceptions import Exit

import invoke_tasks
from remote.spark_args import ScriptArgsError
from spec.outputs import Outputs, SparkCluster
from targets.azure import livy as livy_module
from targets.azure.errors import AzureError
from targets.azure.livy import follow_livy, submit_livy
from targets.spark_job_records import JobRecords
from targets.spark_jobs import CloudSparkResult
from tests.azure.azurite import ACCOUNT, Azurite
from tests.azure.fake_livy import Batch, FakeLivy, Plan

USER, PASSWORD = "admin", "Gateway-Passw0rd!"
# Livy's batch log: spark-submit's stdout and stderr and YARN's diagnostics, each section opened by a line of
# its own starting with a newline (Livy's logLines).
TRACEBACK = ["Traceback (most recent call last):", '  File "/tmp/job.py", line 9, in <module>',
             "    rows = parse(line)", "ValueError: bad row 'x,y'"]


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    server = Azurite()
    yield server
    server.stop()


@pytest.fixture
def livy() -> Iterator[FakeLivy]:
    server = FakeLivy(USER, PASSWORD)
    yield server
    server.stop()


@pytest.fixture
def container(azurite: Azurite) -> ContainerClient:
    """A new container per test, like the cluster's file system."""
    service = BlobServiceClient(azurite.account_url, credential=azurite.credential)
    return service.create_container(f"spark{uuid.uuid4().hex[:12]}")


def cluster(livy: FakeLivy, container: ContainerClient, password: str = PASSWORD) -> SparkCluster:
    return SparkCluster(provider="azure", master=livy.url, region="westeurope", user=USER, password=password,
                        bucket=f"https://{ACCOUNT}.blob.core.windows.net/{container.container_name}")


def records_of(script: Path) -> JobRecords:
    """Where a test's job records go: next to its script, in the test's own folder."""
    return JobRecords(script.parent / "spark-jobs")


def submit(livy: FakeLivy, container: ContainerClient, azurite: Azurite, script: Path, states: list[str],
           password: str = PASSWORD, **kwargs: Any) -> CloudSparkResult:
    defaults: dict[str, Any] = {"input": None, "output": None, "args": [], "timeout": 30.0, "poll": 0.01}
    return submit_livy(cluster(livy, container, password), script, records_of(script),
                       on_state=lambda state, _: states.append(state), credential=azurite.credential,
                       account_url=azurite.account_url, verify=livy.ca_file, **{**defaults, **kwargs})


def attach(livy: FakeLivy, container: ContainerClient, azurite: Azurite, script: Path, batch_id: str,
           states: list[str]) -> CloudSparkResult:
    """Follow the batch again from its record, as `invoke submit-spark --attach` does."""
    records, spark = records_of(script), cluster(livy, container)
    return follow_livy(spark, records.load(batch_id, spark), records, timeout=30.0,
                       on_state=lambda state, _: states.append(state), poll=0.01, credential=azurite.credential,
                       account_url=azurite.account_url, verify=livy.ca_file)


def blob(container: ContainerClient, name: str) -> bytes:
    return container.download_blob(name).readall()


def key_of(uri: str, container: ContainerClient) -> str:
    """The blob name of a cluster-side URI, checked to be in this container of this account."""
    prefix = f"abfss://{container.container_name}@{ACCOUNT}.dfs.core.windows.net/"
    assert uri.startswith(prefix), uri
    return uri[len(prefix):]


@pytest.fixture
def job(tmp_path: Path) -> Path:
    script = tmp_path / "word count.py"
    script.write_text("print('counting')\n")
    return script


def test_a_batch_that_succeeds_gets_its_uploads_and_its_output_downloaded(
        livy: FakeLivy, container: ContainerClient, azurite: Azurite, job: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "day=1").mkdir(parents=True)
    (data / "a.txt").write_text("alpha beta\n")
    (data / "day=1" / "b.txt").write_text("gamma\n")
    package = tmp_path / "helpers"
    package.mkdir()
    (package / "__init__.py").write_text("WORDS = 2\n")

    def driver_writes_output(batch: Batch) -> None:
        output = key_of(batch.body["args"][1], container)
        container.upload_blob(f"{output}/part-00000", b"alpha\t1\n")
        container.upload_blob(f"{output}/_SUCCESS", b"")
        container.upload_blob(f"{output}/nested", b"", metadata={"hdi_isfolder": "true"})  # ADLS Gen2 directory

    livy.plan = Plan(on_final=driver_writes_output)
    states: list[str] = []
    result = submit(livy, container, azurite, job, states, input=str(data), output=str(tmp_path / "out"),
                    args=["--top", "3"], modules=[package])

    assert (result.exit_code, result.state, result.cause) == (0, "success", None)
    assert states == ["starting", "running", "success"]
    [batch] = livy.batches.values()
    script_key = key_of(batch.body["file"], container)
    assert script_key.startswith("jobs/word-count-") and script_key.endswith("/word_count.py")
    assert blob(container, script_key) == b"print('counting')\n"
    prefix = script_key.rsplit("/", 1)[0]
    input_uri, output_uri, *rest = batch.body["args"]
    assert key_of(input_uri, container) == f"{prefix}/input/data/" and rest == ["--top", "3"]
    assert blob(container, f"{prefix}/input/data/a.txt") == b"alpha beta\n"
    assert blob(container, f"{prefix}/input/data/day=1/b.txt") == b"gamma\n"
    [modules] = batch.body["pyFiles"]
    with zipfile.ZipFile(io.BytesIO(blob(container, key_of(modules, container)))) as archive:
        assert archive.read("helpers/__init__.py") == b"WORDS = 2\n"
    assert batch.body["conf"] == {"spark.yarn.maxAppAttempts": "1"}
    assert result.output_uri == output_uri == f"abfss://{container.container_name}@{ACCOUNT}.dfs.core.windows.net/" \
                                              f"{prefix}/output"
    assert result.output_dir == tmp_path / "out"
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")) == [
        "_SUCCESS", "part-00000"]  # no file for the directory entry
    assert (tmp_path / "out" / "part-00000").read_bytes() == b"alpha\t1\n"
    changes = [(method, headers) for method, _, headers in livy.requests if method != "GET"]
    assert [method for method, _ in changes] == ["POST"]
    assert all(headers.get("x-requested-by") for _, headers in changes)
    assert records_of(job).ids() == []  # followed to its end: nothing left to attach to


def test_a_dead_batch_returns_the_cause_from_its_log(livy: FakeLivy, container: ContainerClient,
                                                      azurite: Azurite, job: Path, tmp_path: Path) -> None:
    noise = [f"25/01/01 12:00:{i % 60:02d} INFO Client: Application report (state: RUNNING)" for i in range(2400)]
    livy.plan = Plan(states=["starting", "running", "running", "dead"],
                     log=["stdout: ", *noise, *TRACEBACK, "\nstderr: ", "\nYARN Diagnostics: ",
                          "User application exited with status 3"])
    states: list[str] = []
    result = submit(livy, container, azurite, job, states, output=str(tmp_path / "out"))

    assert (result.exit_code, result.state) == (3, "dead")
    assert result.cause == "\n".join(TRACEBACK)  # found after 2400 lines: the log is read page by page
    assert states[-1] == "dead" and not (tmp_path / "out").exists()
    assert result.logs == f"{livy.url}/batches/0/log"


def test_a_failure_without_an_error_in_the_log_shows_its_last_lines(livy: FakeLivy, container: ContainerClient,
                                                                     azurite: Azurite, job: Path) -> None:
    livy.plan = Plan(states=["starting", "dead"], log=["stdout: ", "\nstderr: ", "\nYARN Diagnostics: ",
                                                       "Application killed by user."])
    result = submit(livy, container, azurite, job, [])
    assert result.exit_code == 1
    assert result.cause is not None and result.cause.endswith("Application killed by user.")


def test_a_batch_running_past_the_timeout_is_deleted(livy: FakeLivy, container: ContainerClient, azurite: Azurite,
                                                     job: Path) -> None:
    livy.plan = Plan(states=["starting", "running"])
    with pytest.raises(AzureError, match=r"^batch 0: still running after 0.2 s, so it was deleted; ") as failed:
        submit(livy, container, azurite, job, [], timeout=0.2)
    assert livy.deleted == [0] and "\n" not in str(failed.value)
    assert records_of(job).ids() == []
    [delete] = [headers for method, _, headers in livy.requests if method == "DELETE"]
    assert delete.get("x-requested-by")


def test_a_gateway_blip_while_following_is_retried_and_the_batch_not_lost(
        livy: FakeLivy, container: ContainerClient, azurite: Azurite, job: Path) -> None:
    livy.plan = Plan(states=["starting", "running", "success"], unavailable=2)
    states: list[str] = []
    result = submit(livy, container, azurite, job, states)
    assert (result.exit_code, states) == (0, ["starting", "running", "success"])
    assert [method for method, _, _ in livy.requests].count("POST") == 1 and livy.plan.unavailable == 0


def test_ctrl_c_deletes_the_batch_and_its_record(livy: FakeLivy, container: ContainerClient, azurite: Azurite,
                                                  job: Path) -> None:
    livy.plan = Plan(states=["starting", "running"])

    def interrupt(state: str, elapsed: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        submit_livy(cluster(livy, container), job, records_of(job), input=None, output=None, args=[], timeout=30.0,
                    on_state=interrupt, poll=0.01, credential=azurite.credential, account_url=azurite.account_url,
                    verify=livy.ca_file)
    assert livy.deleted == [0] and records_of(job).ids() == []


def lose_the_gateway(livy: FakeLivy, container: ContainerClient, azurite: Azurite, job: Path, plan: Plan,
                     monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> str:
    """Submit while the gateway answers 503 to every state read, past the retries (no backoff, to stay fast);
    then bring it back. Returns the one-line error."""
    monkeypatch.setattr(livy_module, "RETRY_BACKOFF", 0)
    livy.plan = plan
    plan.unavailable = 1000
    with pytest.raises(AzureError) as failed:
        submit(livy, container, azurite, job, [], **kwargs)
    assert plan.unavailable == 1000 - (livy_module.RETRIES + 1)  # the reads were retried, then given up
    plan.unavailable = 0
    return str(failed.value)


def test_a_gateway_outage_past_the_retries_leaves_the_batch_running_and_attach_finishes_it(
        livy: FakeLivy, container: ContainerClient, azurite: Azurite, job: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def driver_writes_output(batch: Batch) -> None:
        container.upload_blob(f"{key_of(batch.body['args'][1], container)}/part-00000", b"alpha\t1\n")

    error = lose_the_gateway(livy, container, azurite, job, Plan(on_final=driver_writes_output), monkeypatch,
                             output=str(tmp_path / "out"))

    assert "\n" not in error and error.startswith("following batch 0 (Livy at ")
    assert "HTTP 503" in error and error.endswith(
        "the job keeps running on the cluster: follow it again with `invoke submit-spark --attach 0`")
    assert livy.deleted == [] and [method for method, _, _ in livy.requests].count("DELETE") == 0
    records = records_of(job)
    assert records.ids() == ["0"] and (records.folder / "0.json").stat().st_mode & 0o777 == 0o600
    record = records.load("0", cluster(livy, container))
    assert (record.output_dir, record.script, record.output_uri) == (
        tmp_path / "out", "word count.py", livy.batches[0].body["args"][1])

    states: list[str] = []
    result = attach(livy, container, azurite, job, "0", states)

    assert (result.exit_code, result.state, result.cluster_job_id) == (0, "success", "0")
    assert states == ["starting", "running", "success"]  # the batch was never read while the gateway was down
    assert (tmp_path / "out" / "part-00000").read_bytes() == b"alpha\t1\n" and result.output_dir == tmp_path / "out"
    assert records.ids() == [] and [method for method, _, _ in livy.requests].count("POST") == 1


def test_a_batch_that_died_while_nobody_followed_it_gives_its_cause_and_code_on_attach(
        livy: FakeLivy, container: ContainerClient, azurite: Azurite, job: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    lose_the_gateway(livy, container, azurite, job, Plan(states=["dead"], log=[
        "stdout: ", *TRACEBACK, "\nstderr: ", "\nYARN Diagnostics: ", "User application exited with status 3"]),
        monkeypatch)

    result = attach(livy, container, azurite, job, "0", [])

    assert (result.exit_code, result.state, result.cause) == (3, "dead", "\n".join(TRACEBACK))
    assert records_of(job).ids() == [] and livy.deleted == []


def test_a_wrong_password_is_one_line_and_starts_nothing(livy: FakeLivy, container: ContainerClient,
                                                         azurite: Azurite, job: Path) -> None:
    with pytest.raises(AzureError, match="HTTP 401, the cluster login was refused; run `invoke up` again") as failed:
        submit(livy, container, azurite, job, [], password="wrong-Passw0rd!")
    assert "\n" not in str(failed.value) and "wrong-Passw0rd" not in str(failed.value)
    assert livy.batches == {}


def test_the_gateway_certificate_is_verified(livy: FakeLivy, container: ContainerClient, azurite: Azurite,
                                             job: Path) -> None:
    """Without the test CA the self-signed certificate is refused, with one line, before any batch exists."""
    with pytest.raises(AzureError, match=r"^submitting word count.py \(Livy at .*\): SSLError: ") as failed:
        submit_livy(cluster(livy, container), job, records_of(job), input=None, output=None, args=[], timeout=5.0,
                    on_state=lambda *_: None, credential=azurite.credential, account_url=azurite.account_url,
                    verify=True)
    assert "\n" not in str(failed.value) and livy.batches == {}


def test_an_environment_without_a_livy_login_is_refused(livy: FakeLivy, container: ContainerClient, job: Path,
                                                        azurite: Azurite) -> None:
    spark = SparkCluster(provider="azure", master=livy.url, bucket=cluster(livy, container).bucket)
    with pytest.raises(AzureError, match="has no container, user or password; run `invoke up`"):
        submit_livy(spark, job, records_of(job), input=None, output=None, args=[], timeout=5.0,
                    on_state=lambda *_: None, credential=azurite.credential, account_url=azurite.account_url)


def saved_environment(livy: FakeLivy, container: ContainerClient, azurite: Azurite, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Environment ``spk`` saved as `invoke up` leaves it, its Spark cluster the local Livy: the task then runs the
    real submit_livy, only the storage emulator, its key and the test CA added."""
    monkeypatch.setenv("CHPC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(livy_module, "submit_livy", functools.partial(
        livy_module.submit_livy, credential=azurite.credential, account_url=azurite.account_url, verify=livy.ca_file,
        poll=0.01))
    Outputs(target="azure", name="spk", region="westeurope", ssh_user="azureuser", ssh_private_key="/k",
            spark=cluster(livy, container)).save(tmp_path / "state" / "spk" / "outputs.json")


def test_invoke_submit_spark_takes_the_azure_path_and_exits_with_the_batch_code(
        livy: FakeLivy, container: ContainerClient, azurite: Azurite, job: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The task as a user runs it: the saved contract's Spark cluster, the real submit_livy (only the storage
    emulator, its key and the test CA added), a dead batch's exit code as the task's and its cause printed."""
    saved_environment(livy, container, azurite, tmp_path, monkeypatch)
    failure = [*TRACEBACK[:2], "    counts[word] += 1", *TRACEBACK[3:]]
    livy.plan = Plan(states=["starting", "running", "dead"],
                     log=["stdout: ", *failure, "\nstderr: ", "\nYARN Diagnostics: ",
                          "User application exited with status 4"])

    with pytest.raises(Exit) as exited:
        invoke_tasks.submit_spark(Context(), script=str(job), args="--top 3", timeout=30, name="spk")

    assert exited.value.code == 4
    [batch] = livy.batches.values()
    assert batch.body["file"].endswith("/word_count.py") and batch.body["args"] == ["--top", "3"]  # exactly --args
    out = capsys.readouterr().out
    assert "spark job failed (exit code 4)" in out
    assert all(line in out for line in failure), out  # the whole traceback, brackets included


def test_invoke_submit_spark_attach_finishes_a_batch_whose_follow_was_lost(
        livy: FakeLivy, container: ContainerClient, azurite: Azurite, job: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The user's road: a submit whose gateway goes away prints how to re-attach, an unknown id names the jobs
    there are, and `--attach` (no --script) downloads the results into the --output given at submit."""
    monkeypatch.setenv("CHPC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(livy_module, "RETRY_BACKOFF", 0)
    storage = {"credential": azurite.credential, "account_url": azurite.account_url, "verify": livy.ca_file,
               "poll": 0.01}
    monkeypatch.setattr(livy_module, "submit_livy", functools.partial(livy_module.submit_livy, **storage))
    monkeypatch.setattr(livy_module, "follow_livy", functools.partial(livy_module.follow_livy, **storage))
    Outputs(target="azure", name="spk", region="westeurope", ssh_user="azureuser", ssh_private_key="/k",
            spark=cluster(livy, container)).save(tmp_path / "state" / "spk" / "outputs.json")
    livy.plan = Plan(on_final=lambda batch: container.upload_blob(
        f"{key_of(batch.body['args'][1], container)}/part-00000", b"alpha\t1\n"), unavailable=1000)

    with pytest.raises(Exit) as lost:
        invoke_tasks.submit_spark(Context(), script=str(job), output=str(tmp_path / "out"), timeout=30, name="spk")
    assert lost.value.code == 1 and "`invoke submit-spark --attach 0`" in capsys.readouterr().out
    assert (tmp_path / "state" / "spk" / "spark-jobs" / "0.json").exists() and livy.deleted == []

    livy.plan.unavailable = 0
    with pytest.raises(Exit) as unknown:
        invoke_tasks.submit_spark(Context(), attach="7", name="spk")
    assert unknown.value.code == 1 and "(jobs to attach to: 0)" in capsys.readouterr().out

    invoke_tasks.submit_spark(Context(), attach="0", name="spk")

    assert f"spark job done; results in {tmp_path / 'out'}" in capsys.readouterr().out
    assert (tmp_path / "out" / "part-00000").read_bytes() == b"alpha\t1\n"
    assert not (tmp_path / "state" / "spk" / "spark-jobs" / "0.json").exists()
    assert [method for method, _, _ in livy.requests].count("POST") == 1


def test_attaching_to_a_batch_livy_has_forgotten_says_so_and_drops_its_record(
        livy: FakeLivy, container: ContainerClient, azurite: Azurite, job: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    lose_the_gateway(livy, container, azurite, job, Plan(), monkeypatch)
    livy.batches.clear()  # Livy forgets a batch ten minutes after it ends, and all of them when it restarts

    with pytest.raises(AzureError, match=r"^batch 0: Livy at .* no longer knows it .* its record is removed, and "
                                         r"what it wrote is at abfss://") as failed:
        attach(livy, container, azurite, job, "0", [])
    assert "\n" not in str(failed.value) and "--attach" not in str(failed.value)
    assert records_of(job).ids() == []


STOCK_WORDCOUNT = Path(__file__).parents[2] / "examples" / "spark" / "stock_wordcount.py"
JVM_NOISE = ["WARNING: Using incubator modules: jdk.incubator.vector",
             "25/01/01 12:00:01 WARN NativeCodeLoader: Unable to load native-hadoop library for your platform"]


def test_invoke_runs_a_stock_pattern_script_with_its_input_placed_and_prints_its_lines(
        livy: FakeLivy, container: ContainerClient, azurite: Azurite, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    saved_environment(livy, container, azurite, tmp_path, monkeypatch)
    data = tmp_path / "words.txt"
    data.write_text("alpha beta alpha\n")
    livy.plan = Plan(log=["stdout: ", "alpha: 2", "beta: 1", "\nstderr: ", *JVM_NOISE, "\nYARN Diagnostics: "])

    invoke_tasks.submit_spark(Context(), script=str(STOCK_WORDCOUNT), input=str(data), args="{input}", timeout=30,
                              name="spk")

    [batch] = livy.batches.values()
    [input_uri] = batch.body["args"]  # exactly its one argument: the uploaded input, no output location
    assert blob(container, key_of(input_uri, container)) == b"alpha beta alpha\n"
    out = capsys.readouterr().out
    assert "alpha: 2\nbeta: 1\n" in out and "spark job done" in out and "WARNING" not in out



def test_invoke_names_a_blob_that_is_both_a_file_and_a_folder_and_exits_1(
        livy: FakeLivy, container: ContainerClient, azurite: Azurite, job: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Blob names ``a`` and ``a/b`` live together in a container, never in a folder. (A name with ``..`` parts
    cannot be made here: the client resolves them in the URL; remote/download_paths.py refuses them all the same.)"""
    names, said = ["part-00000", "a", "a/b"], "result 'a' is both a file and a folder (it holds 'a/b')"
    saved_environment(livy, container, azurite, tmp_path, monkeypatch)

    def driver_writes(batch: Batch) -> None:
        for name in names:
            container.upload_blob(f"{key_of(batch.body['args'][1], container)}/{name}", b"x")

    livy.plan = Plan(on_final=driver_writes)
    out = tmp_path / "results" / "out"
    with pytest.raises(Exit) as failed:
        invoke_tasks.submit_spark(Context(), script=str(job), output=str(out), timeout=30, name="spk")

    printed = capsys.readouterr().out
    [line] = [line for line in printed.splitlines() if line.startswith("error:")]
    assert failed.value.code == 1 and f"into {out}: {said}" in line and "--attach 0" in line
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if "results" in p.parts] == [
        "results", "results/out"]  # nothing downloaded, nothing beside the output folder

def test_a_stock_pattern_script_without_its_argument_fails_with_its_usage_line(
        livy: FakeLivy, container: ContainerClient, azurite: Azurite) -> None:
    livy.plan = Plan(states=["starting", "dead"], log=[
        "stdout: ", "Usage: wordcount <file>", "\nstderr: ", *JVM_NOISE,
        "25/01/01 12:00:02 INFO ShutdownHookManager: Shutdown hook called", "\nYARN Diagnostics: ",
        "User application exited with status 255"])
    result = submit(livy, container, azurite, STOCK_WORDCOUNT, [])
    assert livy.batches[0].body["args"] == []
    assert (result.exit_code, result.cause, result.stdout) == (255, "Usage: wordcount <file>",
                                                               "Usage: wordcount <file>\n")


def test_args_reach_the_batch_exactly_as_typed(livy: FakeLivy, container: ContainerClient, azurite: Azurite,
                                               job: Path) -> None:
    args = ["two  spaces", "it's", 'say "hi"', "$HOME", "$(id)", "`id`", "{{output}}", "", "a\\b;c|d"]
    submit(livy, container, azurite, job, [], args=args)
    submit(livy, container, azurite, job, [], input="abfss://in@acct.dfs.core.windows.net/$x y",
           output="abfss://out@acct.dfs.core.windows.net/it's", args=["--to", "{output}", "--from={input}", "$HOME"])
    assert livy.batches[0].body["args"] == [*args[:6], "{output}", "", "a\\b;c|d"]
    assert livy.batches[1].body["args"] == ["--to", "abfss://out@acct.dfs.core.windows.net/it's",
                                            "--from=abfss://in@acct.dfs.core.windows.net/$x y", "$HOME"]


def test_a_placeholder_without_its_location_is_refused_before_anything_is_uploaded(
        livy: FakeLivy, container: ContainerClient, azurite: Azurite, job: Path, tmp_path: Path) -> None:
    with pytest.raises(ScriptArgsError, match=r"^submit-spark: --output is given but --args places only \{input\}"):
        submit(livy, container, azurite, job, [], input=str(job), output=str(tmp_path / "out"), args=["{input}"])
    assert livy.batches == {} and list(container.list_blobs()) == []


def test_a_driver_that_ran_in_a_yarn_container_is_pointed_to_when_the_log_holds_no_printed_line(
        livy: FakeLivy, container: ContainerClient, azurite: Azurite, job: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    saved_environment(livy, container, azurite, tmp_path, monkeypatch)
    url = "https://wn1-spark.internal.cloudapp.net:30060/node/containerlogs/container_1_0003_01_000001/livy"
    livy.plan = Plan(log=["stdout: ", "\nstderr: ", *JVM_NOISE, "\nYARN Diagnostics: "], driver_log_url=url)

    invoke_tasks.submit_spark(Context(), script=str(job), timeout=30, name="spk")

    out = " ".join(capsys.readouterr().out.split())  # the console wraps lines at its width
    assert f"Livy's log holds no line the driver printed (it ran in a YARN container): read them in {url}" in out
    assert out.endswith("spark job done")
