"""Over a thousand hostile spec files (tests/spec_corpus.py) through `python -m spec.check` and `invoke plan --spec`:
each answers with exit 0 or 2 and, when refused, one line, never a traceback, and never takes longer than the guard
(a hang or a blow-up is cut off and named). The spec's security rules are spec.check's own, so plan has no error
of the spec's left to find.

In-process for speed: `spec.check`'s ``main`` for every file, and the plan task itself for every file it refuses
at the spec stage (invalid, or the local target) and for the first valid AWS ones (a full offline plan each; the
other valid cloud specs are not planned here). The reported cases, a FIFO and /dev/zero also go through the real
commands in subprocesses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from invoke import Context
from invoke.exceptions import Exit

import invoke_tasks
from spec import check
from tests.spec_corpus import REPORTED, Case, corpus

ROOT = Path(__file__).resolve().parents[1]
GUARD_SECONDS = 2.0  # of CPU per file (the subprocesses: of wall time beyond the command's own start)
HANG_SECONDS = 10  # of wall time per file in-process: a read that blocks uses no CPU
FULL_PLANS = 6  # valid cloud specs planned in full in-process (each evaluates the whole program)


class GuardExpired(Exception):
    pass


@contextmanager
def guard(case: Case, seconds: float = GUARD_SECONDS) -> Iterator[None]:
    """Interrupt the body after ``seconds`` of this process's CPU (a blow-up: aliases, backtracking) or
    :data:`HANG_SECONDS` of wall time (a hang on a FIFO), and name the case. CPU time, not wall time, because
    the machine's other load must not fail a case; the wall-clock timer pytest-timeout may have set is put back."""

    def expire(signum: int, frame: object) -> None:
        what = f"{seconds:.1f} s of CPU" if signum == signal.SIGPROF else f"{HANG_SECONDS} s"
        raise GuardExpired(f"{case.name}: no answer within {what}")

    handlers = {number: signal.signal(number, expire) for number in (signal.SIGPROF, signal.SIGALRM)}
    signal.setitimer(signal.ITIMER_PROF, seconds)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        for number, handler in handlers.items():
            signal.signal(number, handler)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), 0.001))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Case, Path]]:
    """The corpus written out, then what is not a file: a FIFO with no writer, /dev/zero, a folder."""
    folder = tmp_path_factory.mktemp("corpus")
    written = []
    for index, case in enumerate(corpus()):
        path = folder / f"{index:04d}.yaml"
        path.write_bytes(case.content)
        written.append((case, path))
    os.mkfifo(folder / "fifo.yaml")
    return [*written, (Case("a FIFO", b""), folder / "fifo.yaml"), (Case("/dev/zero", b""), Path("/dev/zero")),
            (Case("a folder", b""), folder)]


def run(case: Case, call: Callable[[], object], capsys: pytest.CaptureFixture[str],
        seconds: float = GUARD_SECONDS) -> tuple[int, str, str]:
    """``call``'s exit code (``main``'s return or an ``Exit``'s code) and what it printed; any other exception
    fails the test, naming the case."""
    try:
        with guard(case, seconds):
            try:
                result = call()
                code, message = (result if isinstance(result, int) else 0), ""
            except Exit as stop:  # invoke prints its message on stderr
                code, message = stop.code, f"{stop.message}\n" if stop.message else ""
    except (Exception, GuardExpired) as exc:  # a traceback for the user: the failure this test exists for
        pytest.fail(f"{case.name}: {type(exc).__name__}: {str(exc)[:200]}")
    out, err = capsys.readouterr()
    return code, out, err + message


def one_line_refusal(case: Case, out: str, err: str) -> None:
    assert out == "", case.name
    assert len(err.splitlines()) == 1 and err.endswith("\n"), f"{case.name}: {err[:300]!r}"
    assert "Traceback" not in err


def test_the_corpus_is_deterministic_and_holds_the_reported_cases() -> None:
    first, second = corpus(), corpus()
    assert len(first) >= 1000 and first == second
    assert first[: len(REPORTED)] == REPORTED


def plan_seconds(capsys: pytest.CaptureFixture[str]) -> float:
    """The CPU a full plan of the AWS example takes here, once the program's modules are loaded."""
    path = str(ROOT / "examples" / "specs" / "aws-hpc.yaml")
    invoke_tasks.plan(Context(), spec=path, format="json")
    start = time.process_time()
    invoke_tasks.plan(Context(), spec=path, format="json")
    capsys.readouterr()
    return time.process_time() - start


def test_every_file_through_spec_check_and_the_plan_task(files: list[tuple[Case, Path]],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """spec.check answers every file; the plan task refuses what spec.check refuses with the same line, refuses
    a valid local spec in one line, and plans the first valid AWS specs in full, with no error (the spec's own
    rules are spec.check's too; the example's own time is added to their guard)."""
    full_plan_guard = plan_seconds(capsys) + GUARD_SECONDS
    checked: Counter[str] = Counter()
    planned: Counter[int] = Counter()
    for case, path in files:
        code, out, err = run(case, lambda path=path: check.main([str(path)]), capsys)
        assert code in (0, 2), case.name
        if code == 2:
            one_line_refusal(case, out, err)
            assert err.startswith("spec error: "), case.name
        else:
            assert err == "" and out.startswith("ok: ") and len(out.splitlines()) == 1, case.name
        target = "refused" if code == 2 else out.split("(", 1)[1].split(",", 1)[0]
        checked[target] += 1
        if target == "azure" or (target == "aws" and planned[0] + planned[1] >= FULL_PLANS):
            continue
        plan_code, plan_out, plan_err = run(
            case, lambda path=path: invoke_tasks.plan(Context(), spec=str(path), format="json"), capsys,
            full_plan_guard if target == "aws" else GUARD_SECONDS)
        planned[plan_code] += 1
        if target == "aws":  # the spec's own rules refused their errors in spec.check: a valid spec plans clean
            findings = json.loads(plan_out)["findings"]
            assert plan_code == 0 and all(f["severity"] == "warning" for f in findings), case.name
        else:
            one_line_refusal(case, plan_out, plan_err)
            assert plan_code == 2 and (plan_err == err or target == "local"), case.name
    print(f"\nspec.check: {len(files)} hostile specs: {checked['refused']} refused in one line, valid: "
          f"{checked['local']} local, {checked['aws']} aws, {checked['azure']} azure; invoke plan --spec: "
          f"{planned[2]} refused in one line, {planned[0]} planned")
    assert checked["refused"] > 900 and checked["local"] and checked["aws"] and checked["azure"]
    assert planned[0] == FULL_PLANS and planned[2] == checked["refused"] + checked["local"]


def reported(*names: str) -> list[Case]:
    return [case for case in REPORTED if case.name in names]


def answer(argv: list[str], guard_seconds: float, name: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=guard_seconds,
                              env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT), "AWS_EC2_METADATA_DISABLED": "true"})
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: no answer within {guard_seconds:.1f} s")


def startup(argv: list[str]) -> float:
    """How long the command takes on an example: its guard is this plus :data:`GUARD_SECONDS`, so the
    interpreter's own start (seconds on a busy machine) is not counted against the input."""
    start = time.monotonic()
    subprocess.run(argv, cwd=ROOT, capture_output=True, timeout=120)
    return time.monotonic() - start


def through(command: list[str], example: str, cases: list[Case], tmp_path: Path, codes: tuple[int, ...]) -> None:
    """Each case, a FIFO and /dev/zero through ``command FILE``, as a user runs it."""
    guard_seconds = startup([*command, str(ROOT / "examples" / "specs" / example)]) + GUARD_SECONDS
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    paths = [(Case("a FIFO", b""), fifo), (Case("/dev/zero", b""), Path("/dev/zero"))]
    for index, case in enumerate(cases):
        path = tmp_path / f"{index}.yaml"
        path.write_bytes(case.content)
        paths.append((case, path))
    for case, path in paths:
        result = answer([*command, str(path)], guard_seconds, case.name)
        assert result.returncode in codes, f"{case.name}: {result.returncode} {result.stderr[-300:]}"
        if result.returncode == 2:
            one_line_refusal(case, result.stdout, result.stderr)


def test_a_sample_through_the_real_spec_check(tmp_path: Path) -> None:
    cases = reported("billion laughs in name", "sexagesimal count", "!!bool maybe", "60,000-character Azure region")
    through([sys.executable, "-m", "spec.check"], "local.yaml", cases, tmp_path, (0, 2))


def test_a_sample_through_the_real_invoke_plan(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "-c", "invoke_tasks", "plan", "--spec"]
    cases = reported("billion laughs in name", "60,000-character Azure region", "/home mount")
    through(command, "local.yaml", cases, tmp_path, (2,))  # a full plan's own command: tests/test_plan_cli.py
