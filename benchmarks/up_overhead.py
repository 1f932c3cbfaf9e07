"""What `invoke up --stack S --yes` adds to Pulumi's own work: the toolkit's time before the deployment (spec, the
offline plan it shows) and after it (outputs read and saved, fleet found), against the time inside the Pulumi CLI.

The CLI is the project's stand-in (tests/pulumi_cli), which answers each command at once, behind a wrapper that
times every call; the stack is the real hpc-dev config (so the plan shown first is the real program's) and is
already deployed; its outputs name no nodes, so no readiness wait is counted. The goal: at most 1 s after the
deployment (the part a user waits for once Pulumi is done).

Usage: python benchmarks/up_overhead.py [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pulumi_cli.fixture import BIN, FakePulumi  # noqa: E402

GOAL = 1.0
OUTPUTS = {"target": "aws", "name": "hpc-dev", "region": "us-east-1", "ssh_user": "ec2-user",
           "ssh_private_key": "/nonexistent/id_ed25519"}
TIMED_CLI = """#!/bin/sh
start=$(date +%s.%N)
"{real}" "$@"
code=$?
echo "$start $(date +%s.%N) $*" >> "{log}"
exit $code
"""


def setup(work: Path) -> tuple[dict[str, str], Path]:
    """A deployed stack, a user's key and the timed CLI: the environment of each run."""
    cli = FakePulumi(backend=work / "backend", program_file=work / "program.json")
    (work / "home" / ".ssh").mkdir(parents=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "home/.ssh/id_ed25519")],
                   check=True)
    resources = planned_resources()
    cli.program(OUTPUTS, resources=resources)
    cli.deploy("hpc-dev", OUTPUTS, resources=resources)
    timed = work / "bin"
    timed.mkdir()
    log = work / "cli-times.log"
    (timed / "pulumi").write_text(TIMED_CLI.format(real=BIN / "pulumi", log=log))
    (timed / "pulumi").chmod(0o755)
    env = {**os.environ, **cli.env(), "PATH": f"{timed}:{os.environ['PATH']}", "HOME": str(work / "home"),
           "CHPC_STATE_DIR": str(work / "state")}
    return env, log


def planned_resources() -> list[tuple[str, str]]:
    """What the hpc-dev program declares: the deployed stack holds exactly that, so `up` has nothing to change."""
    import stacks
    from spec.loader import load_stack_config
    from targets.plan.mock_run import evaluate

    env = load_stack_config("hpc-dev", ROOT)
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBench"
    found = evaluate(lambda: stacks.build(env, key), project="cloud-hpc-toolkit", stack=env.name,
                     region=env.region or "us-east-1")
    return [(r.type, r.name) for r in found if r.custom]


def one_round(env: dict[str, str], log: Path) -> dict[str, float]:
    """Seconds: the whole command, inside the CLI, the toolkit's own before and after the `pulumi up` call."""
    log.write_text("")
    argv = [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "-c", "invoke_tasks",
            "up", "--stack", "hpc-dev", "--yes"]
    start = time.time()
    result = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)
    end = time.time()
    if result.returncode != 0:
        raise SystemExit(f"invoke up failed: {result.stdout}{result.stderr}")
    calls = [(float(begin), float(finish), args.split()) for begin, finish, args in
             (line.split(" ", 2) for line in log.read_text().splitlines())]
    deploy = next(call for call in calls if [word for word in call[2] if not word.startswith("-")][:1] == ["up"])
    inside = lambda group: sum(finish - begin for begin, finish, _ in group)  # noqa: E731
    before = [call for call in calls if call[1] <= deploy[0]]
    after = [call for call in calls if call[0] >= deploy[1]]
    return {"wall": end - start, "cli": inside(calls), "calls": len(calls),
            "before": deploy[0] - start - inside(before), "after": end - deploy[1] - inside(after)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory(prefix="chpc-bench-up-") as folder:
        env, log = setup(Path(folder))
        one_round(env, log)  # warm the file cache and the bytecode
        results = [one_round(env, log) for _ in range(rounds)]
    median = {key: statistics.median(r[key] for r in results) for key in results[0]}
    print(f"invoke up --stack hpc-dev --yes on a deployed stack, medians of {rounds} rounds")
    print(json.dumps({"wall_s": round(median["wall"], 3), "inside_pulumi_cli_s": round(median["cli"], 3),
                      "cli_calls": int(median["calls"]),
                      "toolkit_before_deploy_s": round(median["before"], 3),
                      "toolkit_after_deploy_s": round(median["after"], 3), "goal_after_deploy_s": GOAL,
                      "after_deploy_to_goal": round(median["after"] / GOAL, 2)}, indent=2))


if __name__ == "__main__":
    main()
