"""The local Spark cluster for real: jobs run on both workers, results equal plain Python, a stock-pattern script
runs unchanged, arguments arrive exactly, failures explain."""

from __future__ import annotations

import json
import re
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
from tests.contract import assert_contract
from tests.local.harness import ROOT, invoke, leftovers, pid_namespaces, run_name, write_spec

pytestmark = pytest.mark.local_cluster

NAME = run_name("sparktest")
EXAMPLES = ROOT / "examples" / "spark"
WORD = re.compile(r"[a-z0-9']+")
MASTER_JSON = "import urllib.request; print(urllib.request.urlopen('http://head:8080/json/').read().decode())"


@pytest.fixture(scope="module")
def spark_env(state_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outputs]:
    """1 head (master) + 2 compute nodes (a worker each), storage mounted; destroyed with nothing left."""
    spec = write_spec(tmp_path_factory.mktemp("spec") / "spark.json", NAME)
    spec.write_text(json.dumps({**json.loads(spec.read_text()), "spark": {}}))
    namespaces: set[str] = set()
    try:
        up = invoke(state_dir, "up", "--spec", str(spec))
        assert up.returncode == 0, up.stdout + up.stderr
        namespaces = pid_namespaces(state_dir, NAME)
        mounted = invoke(state_dir, "mount", "--name", NAME)
        assert mounted.returncode == 0, mounted.stdout + mounted.stderr
        yield assert_contract(Outputs.load(state_dir / NAME / "outputs.json"))
    finally:
        gone = invoke(state_dir, "destroy", "--name", NAME)
        assert gone.returncode == 0, gone.stdout + gone.stderr
        assert leftovers(state_dir, NAME, namespaces) == []


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
