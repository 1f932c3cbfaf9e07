"""The roles' package tasks are tagged ``packages``, which a boot leaves out of the play where the image has the
packages (``install_packages: false``): the tag and the condition must go together, or a node's start pays for a
task that is skipped anyway, or a cloud image would miss a package the boot left out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import yaml

from components.boot.script import boot_script
from tests.boot.configs import aws, local

ROLES = Path(__file__).resolve().parents[2] / "ansible" / "roles"


def tasks(entries: list[dict[str, object]], inherited: tuple[str, ...] = (), when: str = "") -> Iterator[
        tuple[str, tuple[str, ...], str]]:
    """(name, tags, condition) of every task, with what its blocks give it."""
    for entry in entries:
        tags = entry.get("tags", [])
        own = (tags,) if isinstance(tags, str) else tuple(tags)  # type: ignore[arg-type]
        condition = f"{when} {entry.get('when', '')}"
        if "block" in entry:
            yield from tasks(entry["block"], inherited + own, condition)  # type: ignore[arg-type]
        else:
            yield str(entry.get("name")), inherited + own, condition


def test_a_task_is_tagged_packages_exactly_when_it_runs_only_where_packages_are_installed() -> None:
    found = [(f"{path.relative_to(ROLES)}: {name}", "packages" in tags, "install_packages" in when)
             for path in sorted(ROLES.glob("*/tasks/*.yml"))
             for name, tags, when in tasks(yaml.safe_load(path.read_text()) or [])]
    mismatched = [task for task, tagged, conditioned in found if tagged != conditioned]
    assert mismatched == []
    assert sum(tagged for _, tagged, _ in found) >= 5  # munge, slurm, storage (nfs, stunnel), mpi, efa


def test_the_boot_leaves_the_package_tasks_out_only_where_the_image_has_the_packages() -> None:
    assert "--skip-tags packages" in boot_script(local("compute"))
    assert "--skip-tags packages" not in boot_script(aws("compute", tunables={}))
