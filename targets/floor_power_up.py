"""Power up a partition's floor through Slurm, resetting its failed nodes first, the same way on every target.

Slurm starts only a node it holds powered down and available (``idle~``, then ``State=POWER_UP``: the resume program a
job's nodes start by). A floor node whose start failed is DOWN: ``down#`` while Slurm still waits for it (the power
program marked it down at once: the local agent, the EC2 and Azure launchers), ``down~`` once ResumeTimeout passed
(Slurm powered it down and ran ResumeFailProgram). Power saving never stops a floor node (SuspendExcNodes), so
nothing returns it to service: it is reset, much as ParallelCluster's clustermgtd resets failed nodes. ``down~`` is
stopped already: ``State=RESUME`` makes it ``idle~`` at once. Any other DOWN node gets ``State=POWER_DOWN_FORCE``
(Slurm 22.05 drops its power up, runs the suspend program, so whatever a half-done start left is stopped, and with
``idle_on_node_suspend`` holds it ``idle~`` after SuspendTimeout), waited for. Then every ``idle~`` node of the floor
is powered up. A node draining, drained, failing or in maintenance is someone's decision: it is left so and named.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from remote.errors import RemoteError
from remote.pool import Pool
from remote.run import as_root, run

POWERED_DOWN = "idle~"  # sinfo's short state of an idle node that power saving holds down
STEP = "power up the floor"
_KEPT_OUT = ("drain", "drng", "fail", "maint", "boot", "inval")  # sinfo's states of a node taken out of service
_POLL = 1.0  # s between two looks at the nodes a reset waits for
_PASS = 60.0  # s: slurmctld's power-save pass after SuspendTimeout, on a loaded head


@dataclass(frozen=True)
class NodeState:
    """One node as ``sinfo`` shows it: its short state (``down~``) and the reason Slurm keeps for it."""

    name: str
    state: str
    reason: str

    def failed(self) -> bool:
        """DOWN: its start failed, or it stopped answering (Slurm's ``down`` with any flag)."""
        return self.state.startswith("down")

    def settling(self) -> bool:
        """Powering down (``%``): what it will be is known only after SuspendTimeout."""
        return self.state.endswith("%")

    def kept_out(self) -> bool:
        """Drained, failing, in maintenance, rebooting: someone took it out of service, not a failed start."""
        return self.state.startswith(_KEPT_OUT)


def power_up(pool: Pool, floor: Sequence[str], suspend_timeout: float) -> tuple[list[str], list[NodeState]]:
    """Start the nodes of ``floor`` that Slurm holds powered down, failed ones reset first; returns the nodes
    started and the failed ones reset (as they were). A node powering down is waited for (Slurm's
    ``suspend_timeout`` and its power-save pass). A node left out of service stops it, after the others."""
    if not floor:
        return [], []
    settle = suspend_timeout + _PASS
    states = _settled(pool, floor, _states(pool, floor), settle)
    reset = [s for s in states if s.failed()]
    forced = [s.name for s in reset if s.state != "down~"]
    if forced:
        _update(pool, forced, "POWER_DOWN_FORCE", "reset")
        states = _settled(pool, floor, _states(pool, floor), settle, until_down=forced)
    _update(pool, [s.name for s in states if s.state == "down~"], "RESUME", "return to service")
    states = _states(pool, floor)
    started = [s.name for s in states if s.state == POWERED_DOWN]
    _update(pool, started, "POWER_UP", "power up")
    if left := next((s for s in states if s.kept_out() or s.failed() or s.settling()), None):
        raise RemoteError(pool.head_name(), STEP, f"{left.name} is {left.state} ({left.reason}), so it was not "
                          "started (the floor is recorded, its other nodes started)",
                          f"see why on the head (`scontrol show node {left.name}`), return it to service (`scontrol "
                          f"update NodeName={left.name} State=RESUME`) and scale again")
    return started, reset


def resets(reset: Sequence[NodeState]) -> str:
    """What the scale's closing line says of the failed nodes it reset (empty when none)."""
    return "".join(f"; {s.name} was {s.state} ({s.reason}): reset" for s in reset)


def _states(pool: Pool, floor: Sequence[str]) -> list[NodeState]:
    listed = run(pool.head(), ["sinfo", "-h", "-N", "-n", ",".join(floor), "-o", "%N|%t|%E"],
                 node=pool.head_name(), step="list the floor's nodes").stdout
    found = {name: NodeState(name, state, reason) for name, state, reason in
             (line.split("|", 2) for line in listed.splitlines() if line.count("|") >= 2)}
    return [found[name] for name in floor if name in found]


def _settled(pool: Pool, floor: Sequence[str], states: list[NodeState], within: float,
             until_down: Sequence[str] = ()) -> list[NodeState]:
    """``states`` once no node is powering down and the nodes ``until_down`` are powered down (or ``within``
    seconds have passed: what is then still on its way is named by the caller)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(
            s.settling() or (s.name in until_down and not s.state.endswith("~")) for s in states):
        time.sleep(_POLL)
        states = _states(pool, floor)
    return states


def _update(pool: Pool, names: Sequence[str], state: str, what: str) -> None:
    if names:
        run(pool.head(), as_root(["scontrol", "update", f"NodeName={','.join(names)}", f"State={state}"]),
            node=pool.head_name(), step=f"{what} {', '.join(names)}")

