"""Finding an environment by name or by Pulumi stack, on this machine or wherever it was deployed from.

A local environment is known by its folder under the state root. A cloud environment is known by its Pulumi
stack: `invoke up` records the stack before the deployment starts (so a deployment that dies half way can still
be destroyed), and a stack deployed elsewhere (plain `pulumi up`, a colleague, CI) is found through the Automation
API by `--stack`, then remembered here. The saved outputs are a cache: the stack is the source of truth.
"""

from __future__ import annotations

import re
from dataclasses import replace

from pydantic import ValidationError

from spec.environment import Environment
from spec.errors import brief_repr
from spec.outputs import Outputs
from targets import pulumi_stack, state
from targets.backend import Record
from targets.did_you_mean import did_you_mean
from targets.errors import TargetError, UsageError

STACK_NAME = re.compile(r"(?:[A-Za-z0-9_.-]{1,100}/){0,2}[A-Za-z0-9_.-]{1,100}")  # [org/[project/]]name


def recorded(name: str) -> Record | None:
    """What this machine keeps of environment ``name``, if anything. A journal means a local environment (up, or
    an `up` that died half way): its saved outputs are not read, so a damaged file never blocks its destroy."""
    folder = state.env_dir(name)
    deployment = folder / state.DEPLOYMENT
    if deployment.exists():
        data = state.read_state(deployment, "remove it, then `invoke destroy --stack STACK` finds the stack again (or "
                                "use the version that wrote it)", known={"target", "stack", "region"})
        return Record(name=name, target=str(data.get("target", "")), stack=_optional(data, "stack"),
                      region=_optional(data, "region"))
    if (folder / state.JOURNAL).exists():
        return Record(name=name, target="local")
    outputs = folder / state.OUTPUTS
    if outputs.exists():
        target = state.read_state(outputs, "remove it or run `invoke up` again").get("target")
        return Record(name=name, target=str(target)) if target else None
    return None


def _optional(data: dict[str, object], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value)


def remember(record: Record) -> None:
    """Record a cloud environment's stack: before its deployment starts, or once found through the stack."""
    state.make_env_dir(record.name)
    state.write_state(state.env_dir(record.name) / state.DEPLOYMENT,
                      {"target": record.target, "stack": record.stack, "region": record.region})


def cache(record: Record, contract: Outputs) -> None:
    """Save a stack's contract beside its record, unless the name here belongs to another environment."""
    mine = recorded(record.name)
    if mine is not None and (mine.target, mine.stack) != (record.target, record.stack):
        return
    remember(record)
    contract.save(state.outputs_path(record.name))


def find(name: str | None, stack: str | None, *, for_destroy: bool = False) -> Record:
    """The environment a task is about: by ``stack``, by ``name``, or the only one this machine knows.

    ``for_destroy`` also finds a stack with nothing in its outputs (a deployment that died half way)."""
    if name is not None:
        state.check_name(name)
    if stack is not None:
        record = _by_stack(check_stack(stack), for_destroy)
        if name is not None and record.name != name:
            raise UsageError(f"--name {name} and --stack {stack} name different environments (the stack's is "
                             f"{record.name!r}): give one of them")
        return record
    if name is not None:
        record = recorded(name)
        if record is None:
            raise TargetError(f"no environment named {name!r} is known here; "
                              f"{did_you_mean(name, state.known_environments())}{listing()}")
        return record
    known = state.known_environments()
    if len(known) == 1:
        record = recorded(known[0])
        if record is not None:
            return record
    count = "no environment is" if not known else f"{len(known)} environments are"
    raise TargetError(f"{count} known here: choose one with --name or --stack; {listing()}")


def check_stack(stack: str) -> str:
    if not STACK_NAME.fullmatch(stack) or {".", ".."} & set(stack.split("/")):
        raise UsageError(f"stack {brief_repr(stack)}: allowed: a Pulumi stack name ([org/[project/]]name of "
                         "letters, digits, '_', '.', '-')")
    return stack


def listing() -> str:
    """One clause naming the environments here and this project's stacks, for an error line."""
    here = state.known_environments()
    try:
        stacks = pulumi_stack.list_stacks() if pulumi_stack.cli_available() else _stack_files()
    except TargetError:
        stacks = _stack_files()
    return (f"environments here: {', '.join(here) or 'none'}; "
            f"stacks of this project: {', '.join(stacks) or 'none'}")


def require_stack_file(stack: str) -> None:
    """A stack whose spec is read from this project (`up`, `plan`) has its file here; a misspelled one is told the
    closest name and the list, before the spec loader says only "no such file"."""
    short = check_stack(stack).rsplit("/", 1)[-1]
    if not (pulumi_stack.PROJECT / f"Pulumi.{short}.yaml").is_file():
        raise UsageError(f"stack {stack!r}: this project has no Pulumi.{short}.yaml; "
                         f"{did_you_mean(short, _stack_files())}{stack_files_clause()}")


def stack_files_clause() -> str:
    """The stacks whose spec this project holds (its Pulumi.<stack>.yaml files), for an error line."""
    return f"stacks of this project: {', '.join(_stack_files()) or 'none'}"


def _stack_files() -> list[str]:
    return sorted(path.name[len("Pulumi."):-len(".yaml")] for path in pulumi_stack.PROJECT.glob("Pulumi.*.yaml"))


def _by_stack(stack: str, for_destroy: bool) -> Record:
    for name in state.known_environments():
        record = _readable(name)
        if record is not None and record.stack == stack:
            return record
    local = _local_stack(stack)
    if local is not None:
        return local
    short = stack.rsplit("/", 1)[-1]
    if short not in _stack_files() and not pulumi_stack.cli_available():
        raise TargetError(f"no stack {stack!r} is known here, and the Pulumi CLI is not installed to ask for it "
                          f"({pulumi_stack.INSTALL}); {did_you_mean(short, _stack_files())}{listing()}")
    try:
        found = pulumi_stack.outputs(stack)
    except pulumi_stack.StackNotFound as exc:
        raise pulumi_stack.StackNotFound(f"{exc}; {did_you_mean(short, _known_stacks())}{listing()}") from None
    if found:
        contract = parse_contract(found, f"the outputs of stack {stack}")
        record = Record(name=contract.name, target=contract.target, stack=stack, region=contract.region)
        cache(record, contract)
        return replace(record, fresh=contract)
    if not for_destroy:
        raise TargetError(f"stack {stack} has no outputs: nothing is deployed there (`invoke up --stack {stack}` "
                          f"or `pulumi up -s {stack}`), or its deployment did not finish (`invoke destroy --stack "
                          f"{stack}` takes down what it left)")
    env = _stack_environment(stack)
    return Record(name=env.name, target=env.target, stack=stack, region=env.region)


def _readable(name: str) -> Record | None:
    """What is kept of ``name``, or None when this version cannot read it: another environment's damaged state does
    not stop a search by stack (the environment itself says so in one line when it is asked for)."""
    try:
        return recorded(name)
    except TargetError:
        return None


def _known_stacks() -> list[str]:
    """Stacks a user may have meant: the backend's (when the CLI answers), this project's files, those here."""
    try:
        listed = pulumi_stack.list_stacks()
    except TargetError:
        listed = []
    here = [record.stack for name in state.known_environments() if (record := _readable(name)) and record.stack]
    return [*listed, *_stack_files(), *here]


def _local_stack(stack: str) -> Record | None:
    """A stack file of this project that describes a local environment: the environment of that name here."""
    path = pulumi_stack.PROJECT / f"Pulumi.{stack.rsplit('/', 1)[-1]}.yaml"
    if not path.exists():
        return None
    env = _stack_environment(stack, from_file=True)
    if env.target != "local":
        return None
    record = recorded(env.name)
    if record is None:
        raise TargetError(f"stack {stack} describes the local environment {env.name!r}, which is not up here "
                          f"(`invoke up --stack {stack}`)")
    return record


def _stack_environment(stack: str, from_file: bool = False) -> Environment:
    """The spec of ``stack``: as the stack's config gives it (ESC environments included), else its file here."""
    from spec.loader import DEFAULT_PROJECT, load_stack_config, validate
    from spec.stack_config import spec_from_config

    short = stack.rsplit("/", 1)[-1]
    if from_file or not pulumi_stack.cli_available():
        return load_stack_config(short, pulumi_stack.PROJECT)
    config = pulumi_stack.config(stack)
    return validate(spec_from_config(config, DEFAULT_PROJECT, short, f"the config of stack {stack}"))


def parse_contract(values: dict[str, object], source: str,
                   remedy: str = "was it deployed by another version of this project?") -> Outputs:
    """The outputs contract from a stack's outputs or a saved file; one line when it is not one."""
    try:
        return Outputs.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "outputs"
        raise TargetError(f"{source} are not this toolkit's outputs contract ({where}: {first['msg']}); "
                          f"{remedy}") from None

