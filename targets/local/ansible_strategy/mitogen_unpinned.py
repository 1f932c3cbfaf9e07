"""Mitogen's linear strategy without its CPU pinning, for the local target's nodes.

Mitogen pins each ansible-playbook's processes to CPUs for the one playbook it expects on a machine: on 2 cores, its
connection multiplexer to CPU 0, and the controller, its task workers and every module's process to CPU 1. A local
cluster runs one playbook per node at once on this machine, so all of them then share one CPU while the other waits
for the multiplexers (`up` of 1+16 nodes left 40 % of the machine idle with 25 processes waiting to run). Without
the pinning the kernel spreads them over every core.
"""

from __future__ import annotations

import ansible_mitogen.affinity
import ansible_mitogen.loaders
import ansible_mitogen.strategy

ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()  # the base policy pins nothing

Linear = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Linear):  # type: ignore[misc, valid-type]
    """Ansible's linear strategy over Mitogen's connections (what ``mitogen_linear`` is), unpinned."""
