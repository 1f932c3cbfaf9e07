"""A stand-in for the `pulumi` executable that plays the documented commands the Automation API runs.

The real CLI cannot be installed here (it downloads from a host this machine cannot reach), so the tests cross
the Automation API boundary with this program on PATH instead: the toolkit's own code runs unchanged, through
`pulumi.automation`, and only the deployment engine is missing. What it keeps:

- stacks in the file backend's layout, ``$PULUMI_BACKEND_URL`` (``file://DIR``) -> ``DIR/.pulumi/stacks/<project>/
  <stack>.json``, each a checkpoint whose ``pulumi:pulumi:Stack`` resource holds the stack's outputs (secrets in
  Pulumi's secret envelope) and a ``history`` list;
- config in the project folder's ``Pulumi.<stack>.yaml``, as the CLI keeps it (``config set --path`` edits it);
- ``up`` deploys what ``$FAKE_PULUMI_PROGRAM`` (a JSON file) says the program declares: its resources, its
  outputs, the names of its secret outputs, and optionally ``fail_after`` (that many resources are created, then
  the update fails, as a deployment that dies half way);
- every command line in ``DIR/calls.log``, so a test can tell what was asked of the CLI and what was not.
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

VERSION = "v3.205.0"  # events through a log file, which is what this stand-in writes when asked
SECRET_SIG = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")
FLAGS_WITH_VALUE = {"--stack", "-s", "--page-size", "--page", "--exec-kind", "--event-log", "--color", "--client",
                    "--secrets-provider", "--parallel", "--message"}


class CliError(Exception):
    """An error as the CLI prints it (``error: ...`` on stderr, exit code 255)."""


def main(argv: list[str]) -> int:
    backend = _backend()
    backend.mkdir(parents=True, exist_ok=True)
    with open(backend / "calls.log", "a") as log:
        log.write(json.dumps(argv) + "\n")
    words, flags, rest = _parse(argv)
    try:
        return _dispatch(backend, words, flags, rest)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 255


def _backend() -> Path:
    url = os.environ.get("PULUMI_BACKEND_URL", "")
    if not url.startswith("file://"):
        print("error: this stand-in for the Pulumi CLI needs PULUMI_BACKEND_URL=file://DIR", file=sys.stderr)
        sys.exit(255)
    return Path(url.removeprefix("file://"))


def _parse(argv: list[str]) -> tuple[list[str], dict[str, Any], list[str]]:
    words: list[str] = []
    flags: dict[str, Any] = {}
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            return words, flags, argv[index + 1:]
        if arg.startswith("-"):
            name, _, inline = arg.partition("=")
            if name in FLAGS_WITH_VALUE and not inline:
                index += 1
                flags[name] = argv[index]
            else:
                flags[name] = inline or True
        else:
            words.append(arg)
        index += 1
    return words, flags, []


def _project() -> str:
    return yaml.safe_load(Path("Pulumi.yaml").read_text())["name"]


def _stack_name(flags: dict[str, Any], words: list[str]) -> str:
    name = flags.get("--stack") or flags.get("-s") or (words[0] if words else None)
    if not name:
        raise CliError("no stack selected; please use `pulumi stack select` to choose one")
    return str(name)


def _checkpoint_path(backend: Path, stack: str) -> Path:
    return backend / ".pulumi" / "stacks" / _project() / f"{stack}.json"


def _load(backend: Path, stack: str) -> dict[str, Any]:
    path = _checkpoint_path(backend, stack)
    if not path.exists():
        raise CliError(f"no stack named '{stack}' found")
    return json.loads(path.read_text())


def _save(backend: Path, stack: str, checkpoint: dict[str, Any]) -> None:
    path = _checkpoint_path(backend, stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(checkpoint, indent=2))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dispatch(backend: Path, words: list[str], flags: dict[str, Any], rest: list[str]) -> int:
    command = words[:2]
    if words[:1] == ["version"]:
        print(VERSION)
    elif command == ["stack", "select"]:
        _load(backend, _stack_name(flags, words[2:]))
    elif command == ["stack", "init"]:
        stack = _stack_name(flags, words[2:])
        if _checkpoint_path(backend, stack).exists():
            raise CliError(f"stack '{stack}' already exists")
        _save(backend, stack, {"version": 3, "checkpoint": {"stack": f"organization/{_project()}/{stack}",
                                                           "latest": {"resources": []}}, "history": []})
    elif command == ["stack", "ls"]:
        folder = backend / ".pulumi" / "stacks" / _project()
        stacks = sorted(p.stem for p in folder.glob("*.json")) if folder.exists() else []
        print(json.dumps([{"name": name, "current": False, "updateInProgress": False} for name in stacks]))
    elif command == ["stack", "output"]:
        print(json.dumps(_outputs(_load(backend, _stack_name(flags, [])), bool(flags.get("--show-secrets")))))
    elif command == ["stack", "export"]:
        checkpoint = _load(backend, _stack_name(flags, []))
        print(json.dumps({"version": 3, "deployment": {"manifest": {}, **checkpoint["checkpoint"]["latest"]}}))
    elif command == ["stack", "history"]:
        print(json.dumps(list(reversed(_load(backend, _stack_name(flags, []))["history"]))))
    elif words == ["config"]:
        print(json.dumps(_config_json(_stack_name(flags, []))))
    elif command == ["config", "set"]:
        _config_set(_stack_name(flags, []), words[2], rest[0] if rest else words[3], bool(flags.get("--path")),
                    bool(flags.get("--secret")))
    elif words[:1] == ["up"]:
        return _up(backend, _stack_name(flags, []))
    elif words[:1] == ["destroy"]:
        _destroy(backend, _stack_name(flags, []))
    else:
        raise CliError(f"this stand-in does not play `pulumi {' '.join(words)}`")
    return 0


def _stack_resource(checkpoint: dict[str, Any]) -> dict[str, Any] | None:
    return next((r for r in checkpoint["checkpoint"]["latest"]["resources"] if r["type"] == "pulumi:pulumi:Stack"),
                None)


def _outputs(checkpoint: dict[str, Any], show_secrets: bool) -> dict[str, Any]:
    stack = _stack_resource(checkpoint)
    result = {}
    for key, value in (stack or {}).get("outputs", {}).items():
        if isinstance(value, dict) and value.get(SECRET_SIG[0]) == SECRET_SIG[1]:
            result[key] = json.loads(value["plaintext"]) if show_secrets else "[secret]"
        else:
            result[key] = value
    return result


def _stack_file(stack: str) -> Path:
    return Path(f"Pulumi.{stack}.yaml")


def _config_json(stack: str) -> dict[str, Any]:
    """``pulumi config --json --show-secrets``: each key's value as a string (objects as JSON text)."""
    path = _stack_file(stack)
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {} if path.exists() else {}
    result = {}
    for key, value in config.items():
        secret = isinstance(value, dict) and set(value) == {"secure"}
        plain = value["secure"].removeprefix("fake:") if secret else value
        text = plain if isinstance(plain, str) else json.dumps(plain)
        result[key] = {"value": text, "secret": secret, **({"objectValue": plain} if not isinstance(plain, str)
                                                           else {})}
    return result


def _config_set(stack: str, key: str, value: str, path: bool, secret: bool) -> None:
    """Set ``key`` (with ``--path``: ``ns:a.b.c`` inside the object ``ns:a``, ``ns:a[0].b`` inside its list's first
    item) as the CLI writes it."""
    file = _stack_file(stack)
    document = (yaml.safe_load(file.read_text()) if file.exists() else None) or {}
    config = document.setdefault("config", {})
    stored: Any = {"secure": f"fake:{value}"} if secret else _scalar(value) if path else value
    if path:
        namespace, _, dotted = key.partition(":")
        first, *more = _path_parts(dotted)
        if not more:
            config[key] = stored
        else:
            node = config.setdefault(f"{namespace}:{first}", [] if isinstance(more[0], int) else {})
            for part, after in zip(more, [*more[1:], None], strict=True):
                if after is None:
                    _put(node, part, stored)
                else:
                    node = _child(node, part, [] if isinstance(after, int) else {})
    else:
        config[key] = stored
    file.write_text(yaml.safe_dump(document, sort_keys=False))


def _path_parts(dotted: str) -> list[str | int]:
    """``a[0].b`` -> ``["a", 0, "b"]`` (the CLI's path syntax, without its quoted ``["a.b"]`` form)."""
    return [int(index) if index else name for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", dotted)]


def _child(node: Any, part: str | int, empty: Any) -> Any:
    if isinstance(part, int):
        if part == len(node):
            node.append(empty)
        return node[part]
    return node.setdefault(part, empty)


def _put(node: Any, part: str | int, value: Any) -> None:
    if isinstance(part, int) and part == len(node):
        node.append(value)
    else:
        node[part] = value


def _scalar(text: str) -> Any:
    """With ``--path`` the CLI stores ``8`` as a number and ``true`` as a boolean."""
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        return text


def _program() -> dict[str, Any]:
    path = os.environ.get("FAKE_PULUMI_PROGRAM")
    if not path:
        raise CliError("this stand-in needs FAKE_PULUMI_PROGRAM (what the program declares) to run `up`")
    return json.loads(Path(path).read_text())


def _up(backend: Path, stack: str) -> int:
    checkpoint = _load(backend, stack)
    program = _program()
    project = _project()
    declared = program.get("resources", [])
    fail_after = program.get("fail_after")
    created = declared if fail_after is None else declared[:fail_after]
    resources = [{"urn": f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}",
                  "type": "pulumi:pulumi:Stack", "custom": False, "outputs": {}}]
    for resource in created:
        resources.append({"urn": f"urn:pulumi:{stack}::{project}::{resource['type']}::{resource['name']}",
                          "type": resource["type"], "custom": True, "outputs": {}})
        print(f" +  {resource['type']} {resource['name']} created")
    started = _now()
    config = _config_json(stack)
    if fail_after is not None:
        checkpoint["checkpoint"]["latest"]["resources"] = resources
        checkpoint["history"].append({"kind": "update", "startTime": started, "endTime": _now(), "message": "",
                                      "environment": {}, "config": config, "result": "failed",
                                      "version": len(checkpoint["history"]) + 1})
        _save(backend, stack, checkpoint)
        print(f"error: {program.get('error', 'update failed')}", file=sys.stderr)
        return 255
    secret = set(program.get("secret_outputs", []))
    resources[0]["outputs"] = {
        key: {SECRET_SIG[0]: SECRET_SIG[1], "plaintext": json.dumps(value)} if key in secret else value
        for key, value in program.get("outputs", {}).items()}
    checkpoint["checkpoint"]["latest"]["resources"] = resources
    checkpoint["history"].append({"kind": "update", "startTime": started, "endTime": _now(), "message": "",
                                  "environment": {}, "config": config, "result": "succeeded",
                                  "version": len(checkpoint["history"]) + 1,
                                  "resourceChanges": {"create": len(created)}})
    _save(backend, stack, checkpoint)
    (backend / f"up-config-{stack}.json").write_text(json.dumps(config))
    print(f"Resources:\n    + {len(created)} created")
    return 0


def _destroy(backend: Path, stack: str) -> None:
    checkpoint = _load(backend, stack)
    for resource in checkpoint["checkpoint"]["latest"]["resources"]:
        print(f" -  {resource['type']} {resource['urn'].rsplit('::', 1)[-1]} deleted")
    checkpoint["checkpoint"]["latest"]["resources"] = []
    checkpoint["history"].append({"kind": "destroy", "startTime": _now(), "endTime": _now(), "message": "",
                                  "environment": {}, "config": {}, "result": "succeeded",
                                  "version": len(checkpoint["history"]) + 1})
    _save(backend, stack, checkpoint)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
