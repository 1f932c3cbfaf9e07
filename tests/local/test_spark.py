"""The local Spark cluster for real: jobs run on both workers, results equal plain Python, a stock-pattern script
runs unchanged, arguments arrive exactly, failures explain."""

from __future__ import annotations

import json
import re
import secrets
import shlex
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from remote.pool import Pool
from remote.run import run
from remote.spark_job import submit_local
from spec.outputs import Outputs
from tests.local.harness import ROOT, environment, invoke, run_name, write_spec

pytestmark = pytest.mark.local_cluster

NAME = run_name("sparktest")
EXAMPLES = ROOT / "examples" / "spark"
WORD = re.compile(r"[a-z0-9']+")
MASTER_JSON = "import urllib.request; print(urllib.request.urlopen('http://head:8080/json/').read().decode())"


@pytest.fixture(scope="module")
def spark_env(state_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outputs]:
    """1 head (master) + 2 compute nodes (a worker each), storage mounted; destroyed with nothing left."""
    with environment(state_dir, write_spec(tmp_path_factory.mktemp("spec") / "spark.json", NAME, spark=True),
                     NAME) as outputs:
        mounted = invoke(state_dir, "mount", "--name", NAME)
        assert mounted.returncode == 0, mounted.stdout + mounted.stderr
        yield outputs


def read_parts(folder: Path) -> list[str]:
    """The lines of a Spark output folder, part files in order (a sorted job's global order)."""
    return [line for part in sorted(folder.glob("part-*")) for line in part.read_text().splitlines()]


def test_wordcount_runs_on_both_workers_and_equals_python(spark_env: Outputs, tmp_path: Path) -> None:
    source = tmp_path / "books"
    source.mkdir()
    (source / "shipped.txt").write_text((EXAMPLES / "data" / "words.txt").read_text())
    for seed in (1, 2, 3):
        subprocess.run([sys.executable, str(EXAMPLES / "generate.py"), str(source / f"generated-{seed}.txt"),
                        "--mb", "0.5", "--seed", str(seed)], check=True, capture_output=True)
    with Pool(spark_env) as pool:
        result = submit_local(pool, EXAMPLES / "wordcount.py", shared_mount="/shared", master=spark_env.spark.master,
                              input=str(source), output=str(tmp_path / "counts"), args=[], timeout=600,
                              console=Console(quiet=True))
    assert result.exit_code == 0, result.stderr[-3000:]
    expected = Counter(word for path in sorted(source.iterdir()) for word in WORD.findall(path.read_text().lower()))
    lines = read_parts(tmp_path / "counts")
    assert [line.split("\t")[0] for line in lines] == sorted(expected)
    assert {word: int(count) for word, count in (line.split("\t") for line in lines)} == expected
    assert not list((tmp_path / "counts").glob(".*.crc"))
    hosts = set(re.findall(r"Finished task \S+ in stage \S+ \(TID \d+\) in \d+ ms on (\S+) \(executor", result.stderr))
    assert hosts == {node.address for node in spark_env.computes}, result.stderr[-3000:]


def test_hits_per_name_through_the_cli_equals_python(spark_env: Outputs, state_dir: Path, tmp_path: Path) -> None:
    log = EXAMPLES / "data" / "pageviews.txt"
    result = invoke(state_dir, "submit-spark", "--name", NAME, "--script", str(EXAMPLES / "hits_per_name.py"),
                    "--input", str(log), "--output", str(tmp_path / "hits"))
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    hits: Counter[str] = Counter()
    for line in log.read_text().splitlines():
        project, title, count, _ = line.split(" ")
        if project == "en":
            hits[title] += int(count)
    expected = [f"{title}\t{count}" for title, count in sorted(hits.items(), key=lambda item: (-item[1], item[0]))]
    assert read_parts(tmp_path / "hits") == expected
    assert len(expected) > 10


def test_failing_script_gives_exit_code_and_traceback_across_a_dropped_connection(spark_env: Outputs) -> None:
    jobs = Path(spark_env.shared.source) / ".chpc" / "jobs"
    results = []
    with Pool(spark_env) as pool:
        first_head = pool.head()
        worker = threading.Thread(target=lambda: results.append(submit_local(
            pool, ROOT / "tests" / "local" / "spark_failing_job.py", shared_mount="/shared",
            master=spark_env.spark.master, input=None, output=None, args=[], timeout=600,
            console=Console(quiet=True))))
        worker.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(jobs.glob("spark_failing_job-*/pid")):
            time.sleep(0.2)
        time.sleep(2)  # past the submit: the pid is written before the submitting command returns
        first_head.get_transport().close()  # the network drops while the job runs
        worker.join(600)
        assert results, "submit_local did not return"
        assert pool.head() is not first_head
        master = run(pool.head(), [sys.executable, "-c", MASTER_JSON], node="head", step="master json").stdout
    result = results[0]
    assert result.exit_code != 0
    lines = result.cause.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: failing on purpose at record 7"
    assert "in check" in result.cause and "pyspark.zip" not in result.cause  # the user's frames, not Spark's
    assert "ValueError: failing on purpose at record 7" in result.stderr  # the full log comes back too
    assert [app["name"] for app in json.loads(master)["completedapps"]].count("failing") == 1  # not resubmitted


def test_a_result_folder_named_with_a_newline_is_downloaded_inside_the_output_folder(spark_env: Outputs,
                                                                                    tmp_path: Path) -> None:
    """The result names are read NUL-separated: ``q\n../.bashrc`` is one name, a folder ``q\n..`` here."""
    output = tmp_path / "home" / "results"
    with Pool(spark_env) as pool:
        result = submit_local(pool, ROOT / "tests" / "local" / "spark_hostile_names_job.py", shared_mount="/shared",
                              master=spark_env.spark.master, input=None, output=str(output), args=["{output}"],
                              timeout=600, console=Console(quiet=True))
    assert result.exit_code == 0, result.stderr[-3000:]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "home", "home/results", "home/results/part-00000", "home/results/q\n..", "home/results/q\n../.bashrc"]
    assert (output / "q\n.." / ".bashrc").read_text() == "echo owned\n"

def printed_counts(stdout: str) -> Counter[str]:
    """The ``word: count`` lines a stock-pattern word count printed (a word may itself hold ': ')."""
    counts: Counter[str] = Counter()
    for line in stdout.splitlines():
        word, separator, count = line.rpartition(": ")
        if separator and count.isdigit():
            counts[word] += int(count)
    return counts


def test_a_stock_pattern_wordcount_runs_unchanged_with_its_input_placed_or_in_args(
        spark_env: Outputs, state_dir: Path) -> None:
    words = EXAMPLES / "data" / "words.txt"
    expected = Counter(words.read_text().split())
    placed = invoke(state_dir, "submit-spark", "--name", NAME, "--script", str(EXAMPLES / "stock_wordcount.py"),
                    "--input", str(words), "--args", "{input}")
    assert placed.returncode == 0, placed.stdout + placed.stderr[-3000:]
    assert printed_counts(placed.stdout) == expected  # the driver's lines come back, every word once

    shared = Path(spark_env.shared.source) / "stock-wordcount"  # a path every node reads, passed as it is
    shared.mkdir(exist_ok=True)
    (shared / "two words.txt").write_text("spark spark mpi\n")
    direct = invoke(state_dir, "submit-spark", "--name", NAME, "--script", str(EXAMPLES / "stock_wordcount.py"),
                    "--args", shlex.quote(f"{spark_env.shared.mount}/stock-wordcount/two words.txt"))
    assert direct.returncode == 0, direct.stdout + direct.stderr[-3000:]
    assert printed_counts(direct.stdout) == {"spark": 2, "mpi": 1}


def test_a_stock_pattern_script_without_its_argument_fails_with_its_usage_line(spark_env: Outputs,
                                                                               state_dir: Path) -> None:
    result = invoke(state_dir, "submit-spark", "--name", NAME, "--script", str(EXAMPLES / "stock_wordcount.py"))
    assert result.returncode == 255, result.stdout + result.stderr[-3000:]
    assert "spark job failed (exit code 255): Usage: wordcount <file>\n" in result.stdout
    assert "WARNING: Using incubator modules" in result.stderr  # the JVM did warn: it is not the cause


def test_arguments_reach_the_script_exactly(spark_env: Outputs, state_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "in put.txt"
    data.write_text("x\n")
    args = ["two  spaces", "it's", 'say "hi"', "$HOME", "`id`", "$(id)", "{{input}}", "--in={input}", "", "a\\b"]
    result = invoke(state_dir, "submit-spark", "--name", NAME, "--script", str(ROOT / "tests/local/spark_argv_job.py"),
                    "--input", str(data), "--args", shlex.join(args))
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    [line] = [line for line in result.stdout.splitlines() if line.startswith("argv ")]
    got = json.loads(line.removeprefix("argv "))
    job_input = got[7].removeprefix("--in=")
    assert job_input.startswith(f"{spark_env.shared.mount}/.chpc/jobs/") and job_input.endswith("/input/in put.txt")
    assert got == [*args[:6], "{input}", f"--in={job_input}", "", "a\\b"]


PROBE_APP = """import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName(sys.argv[1]).getOrCreate()
print("rows", spark.range(3).count())
"""


def submit_probe(pool: Pool, master: str, app: str, conf_dir: str) -> str:
    """spark-submit on the head with the cluster's Java, Spark and Python (the exports of the role's wrapper) but
    the configuration in ``conf_dir``; returns its exit code and output."""
    script = f"/tmp/{app}.py"
    command = (f"cat > {script} && eval \"$(grep '^export ' /run/spark/spark-submit)\" && "
               f"export SPARK_CONF_DIR={conf_dir} && timeout 240 \"$SPARK_HOME/bin/spark-submit\" "
               f"--master {master} --conf spark.ui.enabled=false {script} {app} 2>&1; echo \"exit $?\"")
    return run(pool.head(), command, node="head", step=f"submit {app}", timeout=300, stdin=PROBE_APP).stdout


def master_apps(pool: Pool) -> set[str]:
    master = json.loads(run(pool.head(), [sys.executable, "-c", MASTER_JSON], node="head", step="master json").stdout)
    return {app["name"] for app in master.get("activeapps", []) + master.get("completedapps", [])}


@pytest.mark.local_cluster
def test_an_application_without_the_secret_is_refused_by_the_master(spark_env: Outputs) -> None:
    assert spark_env.spark is not None
    with Pool(spark_env) as pool:
        empty = run(pool.head(), "mktemp -d", node="head", step="an empty configuration").stdout.strip()
        refused = submit_probe(pool, spark_env.spark.master, "chpc-without-secret", empty)
        # refused: Spark says "All masters are unresponsive" once its retries are spent, or, under load, dies of the
        # closed connection before that; either way it fails and the master never registers the application
        assert not refused.endswith("exit 0\n"), refused[-3000:]
        assert "rows 3" not in refused
        # the same submission with the cluster's configuration (its secret) runs: only the secret differed
        accepted = submit_probe(pool, spark_env.spark.master, "chpc-with-secret", "/run/spark/conf")
        assert accepted.endswith("exit 0\n") and "rows 3" in accepted, accepted[-3000:]
        apps = master_apps(pool)
    assert "chpc-with-secret" in apps
    assert "chpc-without-secret" not in apps


@pytest.mark.local_cluster
def test_only_root_on_this_machine_can_connect_to_the_nodes(spark_env: Outputs) -> None:
    probe = ("import socket, sys\n"
             "try:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10).close()\n"
             "except OSError as err:\n    print(type(err).__name__); sys.exit(3)\n"
             "print('connected')\n")
    user = f"chpc{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user], check=True)
    try:
        for port in (7077, 8080, 22):
            as_user = subprocess.run(["runuser", "-u", user, "--", "/usr/bin/python3", "-c", probe,
                                      spark_env.head.address, str(port)], capture_output=True, text=True, timeout=60)
            assert (as_user.returncode, as_user.stdout) == (3, "ConnectionRefusedError\n"), (port, as_user)
            as_root = subprocess.run(["/usr/bin/python3", "-c", probe, spark_env.head.address, str(port)],
                                     capture_output=True, text=True, timeout=60)
            assert (as_root.returncode, as_root.stdout) == (0, "connected\n"), (port, as_root)
    finally:
        subprocess.run(["userdel", user], check=True)


@pytest.mark.local_cluster
def test_the_secret_is_root_only_and_on_no_command_line(spark_env: Outputs, state_dir: Path) -> None:
    kept = state_dir / spark_env.name / "secrets" / "spark.secret"
    secret = kept.read_text()
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    assert (kept.stat().st_uid, oct(kept.stat().st_mode & 0o777)) == (0, "0o600")
    with Pool(spark_env) as pool:
        for node in spark_env.nodes():
            files = ["/run/spark/conf/spark-auth.conf"] + (
                ["/run/spark/conf/spark-defaults.conf"] if node.name == "head" else [])
            modes = run(pool.client(node.name), ["stat", "-c", "%U %a", *files], node=node.name, step="modes").stdout
            assert modes.split("\n")[:-1] == ["root 600"] * len(files), (node.name, modes)
    # every node's processes are this machine's too (child PID namespaces): the master's, the workers' included
    daemons = 0
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes() if proc.name.isdigit() else b""
        except OSError:
            continue
        assert secret.encode() not in cmdline, cmdline[:200]
        daemons += b"org.apache.spark.deploy." in cmdline
    assert daemons >= 1 + len(spark_env.computes)
