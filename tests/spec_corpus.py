"""A deterministic corpus of hostile spec files: the cases of issue 12 and mutations of the example specs.

Every file is bytes (some are not UTF-8). The same seed gives the same corpus, so a failure names a case that
can be generated again: ``corpus()[i]``.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spec.environment import SYSTEM_DIRS, SYSTEM_PARENTS
from spec.spec_file import MAX_SPEC_BYTES

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261127
EXAMPLES = [path.read_text() for path in sorted((ROOT / "examples" / "specs").glob("*.yaml"))]
LONG = 60_000  # the Azure region of issue 12
LONGER_THAN_ANY_FIELD = 5_000


@dataclass(frozen=True)
class Case:
    name: str
    content: bytes


def laughs(levels: int, width: int) -> str:
    """Anchors ``l0``..: each level lists the one before ``width`` times; ``*l<levels-1>`` names the top."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * width)}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


# Values a hostile user (or a typo) puts where a scalar belongs.
HOSTILE_VALUES = [
    "1:30", "190:20:30", "!!int 1:30", "!!bool maybe", "!!timestamp bad", "!!timestamp 2024-02-30", "!!binary aGk=",
    "!!python/object/apply:os.system [id]", "!!python/name:os.system", "!!set {a, b}", "!!omap [a: 1]", "!mine x",
    "!<tag:example.com,2000:x> y", "!!float x", "!!null x", "!!str", "!!map [1]", "!!seq {a: 1}", "*undefined",
    "&a [*a]", "&m {k: *m}", "yes", "no", "on", "off", "~", "null", ".inf", "-.inf", ".nan", "0o777", "0x1F", "010",
    "1e400", "-0", "1_000", "9" * 5000, "!!int " + "9" * 5000, "2024-02-30", "'unterminated", '"unterminated',
    "{", "[", "}", "]", "[[[[", "{a: [b, {c: }]", "? complex", "- a", ": x", "|\n  block", ">-\n  folded",
    "\"\\x00\"", "\"\\u2028\"", "\"a\\nb\"", "\t", "a\x07b", "\ufeffbom", "%YAML 1.1", "--- x", "... x",
    "/home", "/home/ec2-user", "/root/.ssh", "/var/run/x", "/lib64", "/", "//", "/scratch/../etc", "/tmp",
    "128.0.0.0/1", "0.0.0.0/0", "::/0", "2000::/3", "10.0.0.1/8", "198.51.100.0/24",
    "us-" + "a" * LONG, "a" * LONG + "-", "a" * LONGER_THAN_ANY_FIELD, "/" + "a/" * LONGER_THAN_ANY_FIELD,
    "~" * LONGER_THAN_ANY_FIELD + "\x01", "emr-" + "9" * LONGER_THAN_ANY_FIELD, "vol-" + "0" * LONGER_THAN_ANY_FIELD,
    "[" + "1, " * 5000 + "]", "{" + ", ".join(f"k{n}: v" for n in range(3000)) + "}",
]
# Keys a hostile user adds: unknown, typed, long, duplicated, or YAML syntax.
HOSTILE_KEYS = ["<<", "? x", "1", "true", "null", "&k key", "*k", "!!int 3", "name", "x" * LONGER_THAN_ANY_FIELD,
                "'a\nb'", "\"\\t\""]


def _examples(rng: random.Random) -> list[str]:
    return rng.choice(EXAMPLES).splitlines()


def _value_lines(lines: list[str]) -> list[int]:
    return [index for index, line in enumerate(lines) if ":" in line and not line.lstrip().startswith("#")]


def plant_value(rng: random.Random) -> str:
    """An example with one value replaced by a hostile one."""
    lines = _examples(rng)
    index = rng.choice(_value_lines(lines))
    key = lines[index].split(":", 1)[0]
    lines[index] = f"{key}: {rng.choice(HOSTILE_VALUES)}"
    return "\n".join(lines) + "\n"


def plant_key(rng: random.Random) -> str:
    """An example with a hostile key added beside an existing one (same indentation)."""
    lines = _examples(rng)
    index = rng.choice(_value_lines(lines))
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    lines.insert(index, f"{indent}{rng.choice(HOSTILE_KEYS)}: {rng.choice(['1', 'x', '{}', '[]', '*undefined'])}")
    return "\n".join(lines) + "\n"


def bomb(rng: random.Random) -> str:
    """Aliases that expand geometrically, referenced from a random field (also through a merge key)."""
    levels, width = rng.randint(2, 12), rng.randint(2, 12)
    top = f"*l{levels - 1}"
    use = rng.choice([f"name: {top}", f"tags: {top}", f"tags: {{<<: {top}}}", f"compute: {{count: {top}}}",
                      f"storage: {{volumes: {top}}}", f"containers: {{image: x, command: {top}}}",
                      f"spark: {{applications: {top}}}", f"ssh: {{allowed_cidr: {top}}}"])
    return laughs(levels, width) + use + "\n"


def flip_bytes(rng: random.Random) -> bytes:
    """An example with a few bytes changed, inserted or removed (may not be UTF-8 any more)."""
    data = bytearray(rng.choice(EXAMPLES).encode())
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(data))
        action = rng.randrange(3)
        if action == 0:
            data[at] = rng.randrange(256)
        elif action == 1:
            data.insert(at, rng.choice([0, 9, 10, 0x7F, 0xC3, 0xFF, ord(":"), ord("&"), ord("*"), ord("!")]))
        elif len(data) > 1:
            del data[at]
    return bytes(data)


def truncate(rng: random.Random) -> str:
    text = rng.choice(EXAMPLES)
    return text[: rng.randrange(len(text))]


def repeat(rng: random.Random) -> str:
    """A fragment repeated up to past the size limit: many keys, a long flow list, long lines, deep nesting."""
    size = rng.choice([1_000, 20_000, MAX_SPEC_BYTES - 100, MAX_SPEC_BYTES + 1, 3 * MAX_SPEC_BYTES])
    fragment = rng.choice(["k{n}: v\n", "- x\n", "a", "[", "{a: ", "&a{n} x ", "#", " ", "\n", "name: x\n"])
    if "{n}" in fragment:
        pieces, length = [], 0
        while length < size:
            pieces.append(fragment.replace("{n}", str(len(pieces))))
            length += len(pieces[-1])
        text = "".join(pieces)
    else:
        text = fragment * (size // len(fragment) + 1)
    return text[:size] if rng.random() < 0.5 else "tags: {a: " + text[:size] + "}"


def mount_point(rng: random.Random) -> str:
    """A volume or the share mounted on, above or inside a system folder or the SSH user's home."""
    folder = rng.choice([*SYSTEM_DIRS, *SYSTEM_PARENTS, "/home/ec2-user", "/home/azureuser", "/", "/var", "/scratch"])
    mount = rng.choice([folder, f"{folder}/x", f"/x/..{folder}", f"{folder}/", f"/{folder}", folder.rsplit('/', 1)[0]])
    target = rng.choice(["local", "aws"])
    head = "target: aws\nregion: us-east-1\nssh: {allowed_cidr: 198.51.100.0/24}\n" \
           "head: {instance_type: c5n.large}\ncompute: {instance_type: c5n.large}\n" if target == "aws" else ""
    where = rng.choice([f"volumes: [{{name: a, size_gb: 1, mount: {mount or '/'}}}]",
                        f"shared: {{kind: {'efs' if target == 'aws' else 'local'}, mount: {mount or '/'}}}"])
    return f"{head}storage: {{{where}}}\n"


def ssh_cidr(rng: random.Random) -> str:
    """A cloud spec whose SSH source is a random network, maybe with allow_world or a minimum prefix."""
    version = rng.choice([4, 4, 6])
    prefix = rng.randint(0, 32 if version == 4 else 128)
    address = ipaddress.IPv4Address(rng.getrandbits(32)) if version == 4 else ipaddress.IPv6Address(
        rng.getrandbits(128))
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    cidr = str(network) if rng.random() < 0.9 else f"{address}/{prefix}"  # some with host bits
    extra = rng.choice(["", ", allow_world: true", f", min_prefix: {rng.randint(-1, 33)}",
                        f", min_prefix_v6: {rng.randint(-1, 129)}"])
    target, region, machine = rng.choice([("aws", "us-east-1", "c5n.large"),
                                          ("azure", "westeurope", "Standard_D4s_v5")])
    return (f"target: {target}\nregion: {region}\nssh: {{allowed_cidr: '{cidr}'{extra}}}\n"
            f"head: {{instance_type: {machine}}}\ncompute: {{instance_type: {machine}}}\n")


MUTATORS: list[Callable[[random.Random], str | bytes]] = [
    plant_value, plant_value, plant_value, plant_key, bomb, flip_bytes, flip_bytes, truncate, repeat, mount_point,
    ssh_cidr,
]

# The cases issue 12 names, as they were reported, before any mutation.
REPORTED = [
    Case("billion laughs in name", (laughs(9, 10) + "name: *l8\n").encode()),
    Case("sexagesimal count", b"compute: {count: 1:30}\n"),
    Case("!!bool maybe", b"storage: {volumes: [{name: a, size_gb: 1, mount: /a, retain: !!bool maybe}]}\n"),
    Case("!!timestamp bad", b"name: !!timestamp bad\n"),
    Case("60,000-character Azure region", f"target: azure\nregion: {'a' * LONG}-\n".encode()),
    Case("/home mount", b"storage: {volumes: [{name: a, size_gb: 1, mount: /home}]}\n"),
    Case("/root mount", b"storage: {volumes: [{name: a, size_gb: 1, mount: /root}]}\n"),
    Case("/lib64 mount", b"storage: {volumes: [{name: a, size_gb: 1, mount: /lib64}]}\n"),
    Case("/var/run mount", b"storage: {volumes: [{name: a, size_gb: 1, mount: /var/run}]}\n"),
    Case("half the internet", b"target: aws\nregion: us-east-1\nssh: {allowed_cidr: 128.0.0.0/1}\n"
                              b"head: {instance_type: c5n.large}\ncompute: {instance_type: c5n.large}\n"),
    Case("empty", b""),
    Case("not UTF-8", b"name: \xff\xfe\n"),
    Case("NUL", b"name: a\x00b\n"),
]


def corpus(count: int = 1000, seed: int = SEED) -> list[Case]:
    """The reported cases, then ``count`` mutations drawn with ``seed``."""
    rng = random.Random(seed)
    cases = list(REPORTED)
    for index in range(count):
        mutate = rng.choice(MUTATORS)
        content = mutate(rng)
        cases.append(Case(f"{mutate.__name__} #{index}",
                          content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")))
    return cases
