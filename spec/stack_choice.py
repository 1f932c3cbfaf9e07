"""What an environment builds follows from the sections its spec has; ``stack:`` may say it too, but must agree.

head, compute or storage ask for Slurm (``hpc``), spark for Spark, containers for a container service; two or
more of them make ``full``, and none the default, ``hpc``. The local target always runs Slurm (Spark beside it
with a spark section) and has no container service. A section the chosen stack would ignore is refused, naming
the section and the stack, rather than dropped in silence. This module is the one place that decides; the
compositions in ``stacks/`` build what :func:`parts_of` says.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from pydantic_core import PydanticCustomError

from spec.errors import invalid, refused, required

StackKind = Literal["hpc", "containers", "spark", "full"]
Part = Literal["hpc", "spark", "containers"]
# The sections that ask for each part, in the spec's field order.
PART_SECTIONS: dict[Part, tuple[str, ...]] = {
    "hpc": ("head", "compute", "partitions", "scaling", "storage"), "spark": ("spark",), "containers": ("containers",),
}
BUILDS = {"hpc": "Slurm", "spark": "Spark", "containers": "a container service"}
SECTION_EXAMPLE = {"spark": "spark: {core: {count: 2}}", "containers": "containers: {image: ...}"}


def asked_parts(target: str, sections: Sequence[str]) -> frozenset[Part]:
    """The parts the sections present ask for; Slurm when none does, and always on the local target."""
    asked = {part for part, names in PART_SECTIONS.items() if any(name in sections for name in names)}
    if target == "local" or not asked:
        asked.add("hpc")
    return frozenset(asked)


def stack_name(parts: frozenset[Part]) -> StackKind:
    """One part is its own stack; several are ``full``."""
    return next(iter(parts)) if len(parts) == 1 else "full"


def parts_of(stack: StackKind, target: str, sections: Sequence[str]) -> frozenset[Part]:
    """What a validated environment builds: its stack's part, or for ``full`` every part its sections ask for."""
    return asked_parts(target, sections) if stack == "full" else frozenset({stack})


def choose_stack(target: str, sections: Sequence[str], explicit: StackKind | None) -> StackKind:
    """The stack the sections ask for, checked against ``stack:`` when the spec gives one (``explicit``)."""
    if target == "local" and "containers" in sections:
        raise refused("target local has no container service (it runs Slurm, and Spark beside it with a spark "
                      "section); remove the section, or build it on aws or azure", "containers")
    if target == "local" and explicit in ("spark", "containers"):
        raise invalid("hpc, full (target local always runs Slurm; full adds Spark with a spark section)", "stack",
                      explicit)
    derived = stack_name(asked_parts(target, sections))
    if explicit is None or explicit == derived:
        return derived
    raise _disagreement(explicit, derived, sections)


def _disagreement(explicit: StackKind, derived: StackKind, sections: Sequence[str]) -> PydanticCustomError:
    """Why ``stack: explicit`` cannot build what the sections (which ask for ``derived``) say."""
    if explicit == "full":
        return invalid(f"{derived} (the sections ask only for {BUILDS[derived]}; full builds two or more of "
                       f"{', '.join(get_args(Part))})", "stack", explicit)
    ignored = [name for name in sections if name not in PART_SECTIONS[explicit]]
    if ignored:
        return refused(f"stack {explicit} would ignore this section (it builds {BUILDS[explicit]} only, from "
                       f"{', '.join(PART_SECTIONS[explicit])}); remove the section, or remove stack: {explicit} "
                       f"to build {derived}", ignored[0])
    section = PART_SECTIONS[explicit][0]
    return required(f"required for stack {explicit} (e.g. {SECTION_EXAMPLE[explicit]})", section)
