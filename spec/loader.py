"""Reading an environment spec from YAML text, a file or a Pulumi stack's config.

Every failure, whatever the input, is a :class:`SpecError` with one line to show the user.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from spec import yaml_core
from spec.environment import Environment, local_default_spec
from spec.errors import PROBLEM_WIDTH, SpecError, brief_repr, brief_text, describe_validation_error
from spec.spec_file import MAX_SPEC_BYTES, read_spec_text, too_large
from spec.stack_config import spec_from_config

DEFAULT_PROJECT = "cloud-hpc-toolkit"


def load_spec_text(text: str, source: str = "<spec>") -> Environment:
    return validate(_parse_mapping(text, source))


def load_spec_file(path: str | Path) -> Environment:
    return validate(_read_mapping(Path(path)))


def load_stack_config(stack: str, project_dir: Path) -> Environment:
    """The spec held in ``Pulumi.<stack>.yaml`` under the project's own config namespace."""
    return validate(_stack_spec(stack, Path(project_dir)))


def load_environment(spec_file: str | None, stack: str | None, project_dir: Path,
                     target: str | None = None, nodes: int | None = None) -> Environment:
    """The CLI's entry point: a spec file, else the stack's config, else the local default, then overrides."""
    if spec_file is not None and stack is not None:
        raise SpecError("spec error: give either a spec file or a stack, not both")
    if spec_file is not None:
        spec = _read_mapping(Path(spec_file))
    elif stack is not None:
        spec = _stack_spec(stack, Path(project_dir), target)
    else:
        spec = local_default_spec()
    if target is not None:
        spec["target"] = target
    if nodes is not None:
        # only a spec that builds Slurm has compute nodes to count: --nodes must not add a section to another
        env = validate(spec)
        if "hpc" not in env.parts:
            raise SpecError(f"spec error: --nodes {nodes}: stack {env.stack} has no Slurm compute nodes")
        if spec.get("partitions") is not None:
            raise SpecError(f"spec error: --nodes {nodes}: the spec names its partitions; set their min and max there")
        compute = spec.get("compute")
        if compute is None or isinstance(compute, dict):
            spec["compute"] = {**(compute or {}), "count": nodes}
    return validate(spec)


def validate(spec: dict[str, Any]) -> Environment:
    """A spec given as a mapping (already parsed) -> Environment, or SpecError with one line."""
    try:
        return Environment.model_validate(spec)
    except ValidationError as exc:
        raise SpecError(describe_validation_error(exc, Environment)) from None


def _read_mapping(path: Path, empty_ok: bool = False) -> dict[str, Any]:
    return _parse_mapping(read_spec_text(path), str(path), empty_ok)


def _parse_mapping(text: str, source: str, empty_ok: bool = False) -> dict[str, Any]:
    """The text as YAML (core schema, bounded: :mod:`spec.yaml_core`), which must be a mapping."""
    if len(text) > MAX_SPEC_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_SPEC_BYTES:
        raise too_large(source)
    try:
        data = yaml_core.load_mapping(text)
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(source, exc.problem_mark, _problem(exc)) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else brief_repr(exc.character)
        where = f"{source}:{line}:{column}"
        raise SpecError(f"spec error: {where}: invalid YAML: character {char}: {exc.reason}") from None
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        raise SpecError(f"spec error: {source}: invalid YAML: {brief_text(str(exc), PROBLEM_WIDTH)}") from None
    if data is None:
        if empty_ok:
            return {}
        raise SpecError(f"spec error: {source}: invalid YAML: expected a mapping, found an empty document")
    return data


def _problem(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or exc.context or "unreadable"
    if exc.problem and exc.context:
        mark = exc.context_mark
        where = f" at {mark.line + 1}:{mark.column + 1}" if mark else ""
        problem += f" ({exc.context}{where})"
    return brief_text(problem, PROBLEM_WIDTH)


def _yaml_error(source: str, mark: yaml.Mark | None, problem: str) -> SpecError:
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
    return SpecError(f"spec error: {where}: invalid YAML: {problem}")


def _stack_spec(stack: str, project_dir: Path, target: str | None = None) -> dict[str, Any]:
    """The spec in ``Pulumi.<stack>.yaml``'s config; ``target`` picks which provider region to use."""
    short = stack.rsplit("/", 1)[-1]
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", short) or short in (".", ".."):
        raise SpecError(f"spec error: stack {brief_repr(stack)}: allowed: letters, digits, '_', '.', '-'")
    project = _project_name(project_dir)
    path = project_dir / f"Pulumi.{short}.yaml"
    config = _read_mapping(path, empty_ok=True).get("config") or {}
    if not isinstance(config, dict):
        raise SpecError(f"spec error: {path}: config = {brief_repr(config)}: allowed: a mapping")
    return spec_from_config(config, project, short, str(path), target)


def _project_name(project_dir: Path) -> str:
    path = project_dir / "Pulumi.yaml"
    if not path.exists():
        return DEFAULT_PROJECT
    name = _read_mapping(path).get("name", DEFAULT_PROJECT)
    if not isinstance(name, str) or not name:
        raise SpecError(f"spec error: {path}: name = {brief_repr(name)}: allowed: a project name")
    return name


DEFAULT_PRIVATE_KEY = "~/.ssh/id_ed25519"


def private_key_path(env: Environment) -> str:
    """The private key as the outputs carry it: ``~`` kept, so each machine that uses the stack finds the key in
    its own user's home (a colleague's laptop, CI), not in the deployer's."""
    return env.ssh.private_key or DEFAULT_PRIVATE_KEY


def check_private_key(env: Environment) -> None:
    """Before a deployment: the key every task after it logs in with must be here."""
    shown = private_key_path(env)
    if not Path(shown).expanduser().is_file():
        raise SpecError(f"spec error: ssh.private_key = {brief_repr(shown)}: no such readable file; the nodes "
                        "authorise ssh.public_key, and its private half logs in after up")


def read_public_key(env: Environment) -> str:
    """The user's public key line ("ssh-ed25519 AAAA..."), which cloud nodes authorise at boot."""
    shown = env.ssh.public_key or "~/.ssh/id_ed25519.pub"
    path = Path(shown).expanduser()
    try:
        fields = path.read_text().split()
    except OSError:
        raise SpecError(f"spec error: ssh.public_key = {brief_repr(shown)}: no such readable file; create a key "
                        "with `ssh-keygen -t ed25519` or name yours") from None
    if len(fields) < 2 or not fields[0].startswith(("ssh-", "ecdsa-")):
        raise SpecError(f"spec error: ssh.public_key = {brief_repr(shown)}: not an OpenSSH public key")
    return " ".join(fields[:2])
