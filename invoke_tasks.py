"""The task surface: `invoke up`, `mount`, `run-mpi`, `status`, `ssh`, `destroy`, `demo`.

Thin: each task parses flags, calls `spec` / `targets` / `remote`, and turns their errors into one
line and an exit code (2 for a bad spec, 1 for a failed step, the job's own code for a job).
Heavy imports (paramiko, pulumi) happen inside the tasks that need them.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke import Context
from invoke.exceptions import Exit
from rich.text import Text

from cli.errors import task_errors
from cli.flags import task
from cli.text_console import text_console
from cli.words import split_words

if TYPE_CHECKING:
    from spec.outputs import Outputs, SlurmPartition

PROJECT = Path(__file__).resolve().parent
console = text_console()
cli_errors = task_errors(console)

NAME_HELP = "environment name (default: the only environment known here)"
STACK_HELP = ("the environment of this Pulumi stack, wherever it was deployed from (its outputs are read through "
              "Pulumi; default: none, --name decides)")
FIND_HELPS = {"name": NAME_HELP, "stack": STACK_HELP}
SPEC_HELPS = {
    "spec": "environment spec file (YAML), instead of --stack (default: none: a local cluster of 1 head and 2 "
            "compute nodes, unless --stack is given)",
    "stack": "take the environment from Pulumi stack config Pulumi.<STACK>.yaml (default: none)",
    "target": "where to build: local, aws or azure (default: the spec's target, else local)",
    "nodes": "number of compute nodes (overrides the spec; a cloud stack's config is set to it; default: the "
             "spec's)",
}


def _environment(spec: str | None, stack: str | None, target: str | None, nodes: int | None) -> Any:
    from spec.loader import load_environment
    from targets.environments import require_stack_file

    if spec is None and stack is not None:
        require_stack_file(stack)

    return load_environment(spec, stack, PROJECT, target=target, nodes=nodes)


def _count(flag: str, value: str | int | None) -> int | None:
    """A positive whole number from a flag, or one line and exit code 2."""
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise Exit(f"{flag} {value!r}: allowed: a whole number of at least 1", code=2)
    return number


def _contract(name: str | None, stack: str | None) -> Any:
    """The outputs contract of the environment the flags name (found here or through its Pulumi stack)."""
    import targets

    return targets.contract(targets.find(name, stack), console)


def _ask(question: str) -> bool:
    """Yes only when the user types it; no terminal (CI, a pipe) means no."""
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


@task(help={**SPEC_HELPS, "yes": "deploy a cloud stack without asking (what it will create and cost is still shown; "
                                 "default: ask, and no terminal means no)"})
@cli_errors
def up(c: Context, spec: str | None = None, stack: str | None = None, target: str | None = None,
       nodes: str | None = None, yes: bool = False) -> None:
    """Bring an environment up (default: a local cluster of 1 head + 2 compute nodes); a cloud stack shows what
    it will create and what it costs, and asks first."""
    import targets

    count = _count("--nodes", nodes)
    env = _environment(spec, stack, target, count)
    targets.up(env, console, targets.UpRequest(stack=stack, nodes=count, yes=yes, confirm=_ask))


@task(help={"stack": "the Pulumi stack whose config Pulumi.<STACK>.yaml is planned (default: none)",
            "spec": "environment spec file (YAML) to plan instead of a stack's config (default: none)",
            "format": "text (a tree, findings and cost) or json (one object for scripts and CI gates; default: text)",
            "wide": "text: the full cost table (quantity, unit price, per day) for a wide terminal (default: a "
                    "compact table that fits 80 columns)",
            "live_prices": "today's instance prices: the AWS Pricing API (needs AWS credentials) or the Azure "
                           "Retail Prices API (no credentials) (default: the offline price table)"})
@cli_errors
def plan(c: Context, stack: str | None = None, spec: str | None = None, format: str = "text",
         wide: bool = False, live_prices: bool = False) -> None:
    """Plan a cloud stack (aws or azure) offline: resources, security findings, cost per hour, day and month
    (with --live-prices, today's instance prices asked online)."""
    import json

    from targets.environments import stack_files_clause

    if stack is None and spec is None:
        raise Exit(f"plan: give --stack STACK or --spec FILE; {stack_files_clause()}", code=2)
    env = _environment(spec, stack, None, None)
    if format not in ("text", "json"):
        raise Exit(f"--format {format!r}: allowed: text, json", code=2)
    if wide and format == "json":
        raise Exit("--wide widens the text table; --format json has every column already: drop one of them", code=2)
    if env.target == "local":
        raise Exit("plan is for cloud stacks (target aws or azure); the local target costs nothing", code=2)
    import stacks
    from spec.errors import SpecError
    from spec.loader import read_public_key
    from targets.plan.report import as_json, render
    from targets.plan.report import plan as make_plan

    try:
        public_key = read_public_key(env)
    except SpecError:
        public_key = "ssh-ed25519 AAAAplanned-without-a-key-file"  # the key's content changes no resource
    result = make_plan(env, lambda: stacks.build(env, public_key), live=live_prices)
    if format == "json":
        print(json.dumps(as_json(result), indent=2, sort_keys=True))
    else:
        render(result, console, wide=wide)
    if result.errors:
        raise Exit(code=1)


@task(help=FIND_HELPS)
@cli_errors
def mount(c: Context, name: str | None = None, stack: str | None = None) -> None:
    """Mount the shared file system and the block volumes on every node at once (never reformats)."""
    from remote.pool import Pool
    from remote.storage import mount_all

    with Pool(_contract(name, stack)) as pool:
        for node, lines in mount_all(pool, console).items():
            for line in lines:
                console.print(Text.assemble((node, "bold"), " ", line))


def _job_partition(contract: Outputs, asked: str | None) -> SlurmPartition | None:
    """The partition a job goes to (the one asked for, which must exist, else the default one); None for a
    contract whose nodes a scaling group names (it knows no partitions' sizes)."""
    from spec.outputs import NoSuchNode

    if asked is None:
        return contract.partitions[0] if contract.partitions else None
    if not contract.partitions:
        return None
    try:
        return contract.partition(asked)
    except NoSuchNode as exc:
        raise Exit(f"--partition {asked}: {exc}", code=2) from None


def _check_gpus(asked: int | None, partition: SlurmPartition | None) -> None:
    """--gpus-per-node within what the job's partition has, from the outputs contract (Slurm would leave a job asking
    more pending for ever), or one line and exit code 2."""
    if asked is None:
        return
    if partition is None:
        raise Exit(f"--gpus-per-node {asked}: this environment's contract names no partition, so no GPUs", code=2)
    if partition.gpus == 0:
        raise Exit(f"--gpus-per-node {asked}: partition {partition.name} has no GPU ({partition.instance_type}); "
                   "choose a GPU partition with --partition", code=2)
    if asked > partition.gpus:
        raise Exit(f"--gpus-per-node {asked}: partition {partition.name} has {partition.gpus} GPU(s) per node "
                   f"({partition.instance_type}); choose at most {partition.gpus}", code=2)


@task(help={
    "program": "what to run (default examples/mpi/ring.c): a .py file (the nodes' Python with mpi4py), a .c, "
               ".cc/.cpp/.cxx or .f90 file (compiled on the head with mpicc, mpicxx or mpif90), a folder with a "
               "Makefile or CMakeLists.txt (built on the head), or an executable",
    "sbatch": "a Slurm batch script of yours, submitted as it is (its #SBATCH lines kept; --args become its "
              "arguments; flags given here win over its lines); instead of --program (default: none)",
    "binary": "the executable a built folder runs (its name or its path in the build folder; default: the only "
              "one the build made)",
    "nodes": "compute nodes to use (default: all the partition's always-on nodes, at least 1; with --sbatch, the "
             "script's own); a partition's stopped nodes start for the job",
    "ntasks": "MPI ranks (default: 2 per node; with --sbatch, the script's own)",
    "args": "arguments for the program or script, one string (shell-quoted); each reaches it exactly (default: "
            "none)",
    "partition": "Slurm partition (default: the environment's, or the script's own)",
    "time": "Slurm time limit, in Slurm's formats (MINUTES, HH:MM:SS, D-HH:MM, ...; default 10 minutes, or the "
            "script's own)",
    "env": "KEY=VALUE for the job's environment, repeatable; the value reaches every rank exactly (default: "
           "none)",
    "array": "a job array, in Slurm's syntax (0-15, 1,3,5, 0-15:4, 0-15%2); the exit code is the worst task's "
             "(default: one job)",
    "detach": "submit, print the job id and where its output goes, and return (follow it with `invoke job --id`; "
              "default: follow the job to its end)",
    "timeout": "seconds to follow the job before cancelling it (default: none, the job's time limit ends it)",
    "gpus-per-node": "GPUs of each node the job gets (sbatch --gpus-per-node), at most what the partition's nodes "
                     "have (default: none; with --sbatch, the script's own)",
    **FIND_HELPS,
}, iterable=["env"])
@cli_errors
def run_mpi(c: Context, program: str | None = None, sbatch: str | None = None, binary: str | None = None,
            nodes: str | None = None, ntasks: str | None = None, args: str = "", partition: str | None = None,
            time: str | None = None, env: list[str] | None = None, array: str | None = None, detach: bool = False,
            timeout: str | None = None, gpus_per_node: str | None = None, name: str | None = None,
            stack: str | None = None) -> None:
    """Run an MPI program or a Slurm batch script through Slurm, its output shown as it comes; exit with its exit
    code (the worst task's for an array), or return at once with --detach."""
    from remote import job_flags
    from remote.errors import BadInput
    from remote.job_follow import follow
    from remote.mpi_job import JobRequest, read_batch_script, submit_batch_script, submit_program
    from remote.pool import Pool
    from remote.program_kinds import classify

    if program is not None and sbatch is not None:
        raise BadInput("give --program or --sbatch, not both")
    arguments = tuple(split_words("--args", args))
    script = None if sbatch is None else Path(sbatch)
    if script is not None:
        read_batch_script(script)
        if binary is not None:
            raise BadInput("--binary goes with --program FOLDER, not with --sbatch")
    job = None if script is not None else classify(Path(program or PROJECT / "examples/mpi/ring.c"), binary)
    request = JobRequest(args=arguments, partition=None if partition is None else job_flags.check_partition(partition),
                         time=None if time is None else job_flags.check_time(time), env=job_flags.parse_env(env or []),
                         array=job_flags.parse_array(array) if array is not None else None,
                         nodes=_count("--nodes", nodes), ntasks=_count("--ntasks", ntasks),
                         gpus_per_node=_count("--gpus-per-node", gpus_per_node))
    follow_for = _count("--timeout", timeout)
    contract = _contract(name, stack)
    if contract.shared is None:
        raise Exit("this environment has no shared file system; add storage.shared to the spec", code=1)
    chosen = _job_partition(contract, request.partition)
    if request.nodes is not None and chosen is not None and request.nodes > chosen.max:
        raise Exit(f"--nodes {request.nodes}: partition {chosen.name} has at most {chosen.max} compute node(s)",
                   code=2)
    _check_gpus(request.gpus_per_node, chosen)
    with Pool(contract) as pool:
        if job is not None:
            node_count = request.nodes or (max(chosen.min, 1) if chosen else len(contract.computes))
            request = dataclasses.replace(request, nodes=node_count, ntasks=request.ntasks or 2 * node_count)
            submitted = submit_program(pool, job, request, shared_mount=contract.shared.mount,
                                       partition=contract.default_partition, binary=binary, timeout=follow_for)
            what = f"{job.path.name} on {request.nodes} node(s), {request.ntasks} task(s)"
        else:
            assert script is not None
            submitted = submit_batch_script(pool, script, request, shared_mount=contract.shared.mount,
                                            partition=contract.default_partition)
            what = f"{script.name} (sbatch)"
        job_id, record = submitted.job_id, submitted.record
        console.print(f"submitted job {job_id}: {what}; folder {record.job_dir}", soft_wrap=True)
        if detach:
            finder = f"--stack {stack}" if stack else f"--name {contract.name}"
            console.print(f"job {job_id} runs on its own; output: {record.describe_outputs(job_id)}; follow it with "
                          f"`invoke job --id {job_id} {finder}`", soft_wrap=True)
            return
        result = follow(pool, job_id, record, timeout=follow_for, console=console, out=_writer("stdout"),
                        err=_writer("stderr"))
    _ended(result)


@task(help={"id": "the Slurm job id (as run-mpi printed it; a job submitted otherwise is followed from what "
                  "Slurm says); required", **FIND_HELPS})
@cli_errors
def job(c: Context, id: str | None = None, name: str | None = None, stack: str | None = None) -> None:
    """Follow a Slurm job to its end (one run-mpi --detach submitted, from this machine or any other), its output
    shown as it comes; exit with its exit code (the worst task's for an array)."""
    from remote.job_follow import follow, locate
    from remote.pool import Pool

    job_id = _count("--id", id)
    if job_id is None:
        raise Exit("job: give --id N (the job id run-mpi printed)", code=2)
    contract = _contract(name, stack)
    with Pool(contract) as pool:
        record = locate(pool, contract.shared.mount if contract.shared else None, job_id)
        result = follow(pool, job_id, record, timeout=None, console=console, out=_writer("stdout"),
                        err=_writer("stderr"))
    _ended(result)


def _writer(stream: str) -> Callable[[str], None]:
    """Writes a job's output to this process's stdout or stderr as they are when it is called (a live progress
    line on a terminal stands in for them meanwhile, and shows the text above itself)."""

    def write(text: str) -> None:
        target = getattr(sys, stream)
        target.write(text)
        target.flush()

    return write


def _ended(result: Any) -> None:
    """The job's last line; its exit code becomes the task's."""
    colour = "green" if result.exit_code == 0 else "red"
    console.print(Text.assemble((f"job {result.job_id} {result.state}", colour),
                                f" exit code {result.exit_code} in {result.seconds:.1f} s"))
    if result.exit_code:
        raise Exit(code=result.exit_code)


@task(help={
    "script": "the PySpark script, run unchanged: it gets exactly --args, or with --input/--output and no "
              "placeholder in --args, the input and output locations first (required unless --attach)",
    "input": "a local file or folder (uploaded to the target's storage) or a URI passed as is (s3://...; default: "
             "none)",
    "output": "a local folder that receives the results when the job ends, or a URI (default: none, the results "
              "stay in the job's folder)",
    "args": "the script's arguments, one string (shell-quoted); {input} and {output} stand for the locations of "
            "--input and --output, {{input}} for the text {input} (default: none)",
    "timeout": "seconds before the job is given up (default 3600; with --attach, counted from the attach)",
    "attach": "follow again a job (EMR step id, Livy batch id) whose client was lost, and finish its work as the "
              "submit would have; --script, --input, --output and --args are then not used (default: none, a new "
              "job)",
    **FIND_HELPS,
})
@cli_errors
def submit_spark(c: Context, script: str | None = None, input: str | None = None, output: str | None = None,
                 args: str = "", timeout: str | None = None, attach: str | None = None, name: str | None = None,
                 stack: str | None = None) -> None:
    """Run a Spark script on the environment's Spark cluster (local standalone, EMR or HDInsight through Livy),
    or re-attach to one on a cloud cluster; exit with its code."""
    import targets
    from remote.spark_args import ScriptArgsError, check_args
    from targets.backend import SparkJob

    script_args = split_words("--args", args)
    try:
        check_args(script_args, input_given=input is not None, output_given=output is not None)
    except ScriptArgsError as exc:
        raise Exit(str(exc), code=2) from None
    seconds = float(_count("--timeout", timeout) or 3600)
    record = targets.find(name, stack)
    if attach is None and script is None:
        raise Exit("submit-spark: give --script (a new job) or --attach ID (a running one)", code=2)
    contract = targets.contract(record, console)
    if contract.spark is None:
        raise Exit(f"environment {contract.name!r} has no Spark cluster: add a spark section to its spec", code=1)
    backend = targets.backend_for(record.target)
    if attach is not None:
        result = backend.attach_spark(contract, attach, seconds, console)
    else:
        assert script is not None
        job = SparkJob(script=Path(script), input=input, output=output, args=script_args, timeout=seconds)
        result = backend.submit_spark(contract, job, console)
    sys.stdout.write(result.stdout)
    if result.exit_code:
        sys.stderr.write(result.stderr)
        console.print(Text.assemble(("spark job failed", "red"), f" (exit code {result.exit_code})"
                                    + (f": {result.cause}" if result.cause else "")), soft_wrap=True)
        raise Exit(code=result.exit_code)
    console.print(Text.assemble(("spark job done", "green"),
                                f"; results in {result.output_dir}" if result.output_dir else ""), soft_wrap=True)


@task(help=FIND_HELPS)
@cli_errors
def status(c: Context, name: str | None = None, stack: str | None = None) -> None:
    """Show the nodes (by partition, the elastic ones running or not), their Slurm and power states and their
    mounts."""
    from rich.table import Table

    from remote import deadlines
    from remote.pool import Pool
    from remote.status import collect

    with Pool(_contract(name, stack), deadline=deadlines.STATUS_CONNECT) as pool:
        report = collect(pool)
    table = Table(title=f"environment {pool.outputs.name} ({pool.outputs.target})")
    for column in ("node", "partition", "address", "ssh", "slurm", "mounts"):
        table.add_column(column)
    for row in report:
        table.add_row(row.node, row.partition, row.address, row.ssh, row.slurm, ", ".join(row.mounts) or "-")
    console.print(table, soft_wrap=False)  # a table fits its columns to the width


@task(help={"timeout": "seconds each of the two measurement jobs may take (default 300)", **FIND_HELPS})
@cli_errors
def bench_network(c: Context, name: str | None = None, stack: str | None = None, timeout: str | None = None) -> None:
    """Measure MPI latency and bandwidth between two compute nodes (OSU pattern, mpi4py) and print them beside what
    the nodes' networking should give, with a warning line when the latency is far above it."""
    seconds = float(_count("--timeout", timeout) or 300)
    _measure_network(_contract(name, stack), seconds, with_bandwidth=True)


def _measure_network(contract: Any, timeout: float, *, with_bandwidth: bool) -> None:
    """Latency (and bandwidth) between two compute nodes, printed beside what their networking should give."""
    from remote.pool import Pool
    from targets.network_bench import bandwidth, latency, report
    from targets.network_expectation import expectation

    with Pool(contract) as pool:
        figures = latency(pool, timeout)
        rates = bandwidth(pool, timeout) if with_bandwidth else None
    for line in report(figures, rates, expectation(contract)):
        console.print(line, soft_wrap=True)


@task(help={"node": "node to open a shell on (default: head)", **FIND_HELPS,
            "command": "run this command instead of an interactive shell (default: none, a shell)"})
@cli_errors
def ssh(c: Context, node: str = "head", name: str | None = None, command: str | None = None,
        stack: str | None = None) -> None:
    """Open a shell on a node with OpenSSH, the host keys pinned, compute nodes through the head."""
    from remote.openssh import ssh_argv
    from targets import known_hosts_path

    contract = _contract(name, stack)
    argv = ssh_argv(contract, node, known_hosts_path(contract.name), command)
    os.execvp(argv[0], argv)


@task(help={"partition": "the partition whose floor moves (required)",
            "min": "how many of its nodes are always on from now: more start now, fewer stop after the idle time "
                   "(required; 0 to the partition's max)", **FIND_HELPS})
@cli_errors
def scale(c: Context, partition: str | None = None, min: str | None = None, name: str | None = None,
          stack: str | None = None) -> None:
    """Change a running cluster's floor: how many nodes of a partition are always on (the rest start for jobs); a
    cloud stack gets it in its config and is deployed with it (`pulumi up`), so a later `up` keeps it."""
    import targets
    from remote.errors import BadInput

    if partition is None or min is None:
        raise BadInput("give --partition P and --min N")
    if not re.fullmatch(r"[0-9]{1,4}", min):
        raise BadInput(f"--min {min[:20]!r}: a whole number from 0 to the partition's max")
    targets.scale(targets.find(name, stack), partition, int(min), console)


@task(help={**FIND_HELPS, "yes": "do not ask for confirmation (cloud stacks; default: ask for the environment's "
                                 "name)"})
@cli_errors
def destroy(c: Context, name: str | None = None, yes: bool = False, stack: str | None = None) -> None:
    """Take the environment down (also one whose `up` died half way, or a stack deployed elsewhere); a cloud stack
    lists what goes, asks, and is checked for leftovers after."""
    import targets

    def confirm(environment: str, resources: list[str]) -> bool:
        console.print(f"destroying {environment}: {len(resources)} resources")
        for line in resources:
            console.print(f"  {line}")
        if yes:
            return True
        try:
            return input(f"type {environment!r} to confirm: ").strip() == environment
        except EOFError:
            return False

    targets.destroy(name, console, confirm, stack=stack)


@task(help={"command": "command to run instead of the image's (shell-quoted; default: the image's own)",
            "timeout": "seconds to wait for the task to stop (default 600)", **FIND_HELPS})
@cli_errors
def run_task(c: Context, command: str | None = None, timeout: str | None = None, name: str | None = None,
             stack: str | None = None) -> None:
    """Run a one-off task of the environment's container service, stream its logs, exit with its code."""
    import targets

    seconds = float(_count("--timeout", timeout) or 600)
    argv = split_words("--command", command) if command else None
    record = targets.find(name, stack)
    contract = targets.contract(record, console)
    if contract.containers is None:
        raise Exit(f"environment {contract.name!r} has no container service (stack: containers or full)", code=1)

    def on_log(line: str) -> None:
        console.print(line)

    code = targets.backend_for(record.target).run_task(contract, argv, seconds, on_log)
    if code:
        raise Exit(code=code)


@task(help={"nodes": "number of compute nodes (default 2)"})
@cli_errors
def demo(c: Context, nodes: str | None = None) -> None:
    """The whole road on a local cluster: up (the nodes mount their storage as they boot), run-mpi (the ring) and
    the mpi4py latency check, submit-spark (a word count), destroy."""
    import tempfile

    import targets
    from spec.environment import local_default_spec
    from spec.loader import validate

    # its own name, so that the demo never takes down the user's "local" environment
    env = validate({**local_default_spec(_count("--nodes", nodes) or 2, name="demo"), "spark": {}})
    console.rule("1/4 up")
    targets.up(env, console)
    code = 0
    try:
        console.rule("2/4 run-mpi: the ring over every compute node, then the mpi4py latency check")
        run_mpi(c, name=env.name)
        contract = _contract(env.name, None)
        if len(contract.computes) >= 2:
            _measure_network(contract, 300.0, with_bandwidth=False)
        else:
            console.print("the latency check needs two compute nodes: skipped (--nodes 1)")
        console.rule("3/4 submit-spark: a word count on the Spark workers")
        counts = Path(tempfile.mkdtemp(prefix="chpc-demo-")) / "counts"
        submit_spark(c, script=str(PROJECT / "examples/spark/wordcount.py"),
                     input=str(PROJECT / "examples/spark/data/words.txt"), output=str(counts), name=env.name)
        top = sorted((line.split("\t") for part in sorted(counts.glob("part-*"))
                      for line in part.read_text().splitlines()), key=lambda kv: -int(kv[1]))[:5]
        console.print("most frequent words: " + ", ".join(f"{word} {n}" for word, n in top))
    except Exit as exc:
        code = exc.code
    finally:
        console.rule("4/4 destroy")
        targets.destroy(env.name, console)
    if code:
        raise Exit(code=code)
