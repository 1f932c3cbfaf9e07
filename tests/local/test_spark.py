"""The local Spark cluster for real: jobs run on both workers, results equal plain Python, failures explain."""

from __future__ import annotations

import json
import re
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
