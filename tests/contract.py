"""The outputs contract as every post-deploy task relies on it, checked the same way for every target (local
after a real `up`, AWS and Azure from their programs' exports under mocks): a task written against one
target's outputs then works on the others.

``Outputs.model_validate`` already refuses unknown keys and wrong types; this adds what the model cannot say.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

from spec.outputs import Outputs

HOST_KEY_TYPES = ("ssh-ed25519 ", "ecdsa-sha2-nistp256 ", "ssh-rsa ")


def assert_contract(exported: dict[str, Any] | Outputs) -> Outputs:
    """Validate ``exported`` (a stack's exports or a saved contract) and check the cross-field rules."""
    outputs = exported if isinstance(exported, Outputs) else Outputs.model_validate(exported)
    assert Outputs.model_validate(json.loads(outputs.model_dump_json())) == outputs, "does not survive JSON"
    # a cloud stack keeps ~, so that each machine using it finds the key in its own user's home (spec/loader.py)
    assert outputs.ssh_private_key.startswith(("/", "~/")), "ssh_private_key must be an absolute path or under ~"
    if outputs.target != "local":
        assert outputs.region, f"a {outputs.target} environment names its region"
    assert (outputs.azure is not None) == (outputs.target == "azure"), "the Azure scope is for target azure only"
    names = [node.name for node in outputs.nodes()]
    assert len(names) == len(set(names)), f"node names repeat: {names}"
    for node in outputs.nodes():
        assert node.address and node.host_key.startswith(HOST_KEY_TYPES), f"{node.name}: address and pinned key"
    if outputs.fleet is not None:
        assert outputs.head is not None, "a compute fleet needs a head to reach it through"
        assert outputs.fleet.provider == outputs.target and outputs.fleet.expected >= 1
        assert outputs.fleet.host_key.startswith(HOST_KEY_TYPES)
    for volume in outputs.volumes:
        assert volume.node in names, f"volume {volume.name} is on unknown node {volume.node}"
        assert volume.device or volume.volume_id, f"volume {volume.name}: mount needs a device or a volume id"
        assert PurePosixPath(volume.mount).is_absolute()
    for node in names:  # one file system per mount point on each node (the shared one is on all of them)
        mounts = [v.mount for v in outputs.volumes if v.node == node] + ([outputs.shared.mount] if outputs.shared
                                                                         else [])
        assert len(mounts) == len(set(mounts)), f"{node}: two file systems on one mount point: {mounts}"
    if outputs.shared is not None:
        assert PurePosixPath(outputs.shared.mount).is_absolute() and outputs.shared.source
        assert outputs.head is not None, "a shared file system is mounted on cluster nodes"
    # what the compute nodes run on, for judging a measurement between them (`invoke bench-network`)
    assert (outputs.compute_machine is not None) == (outputs.head is not None), "a cluster says what its computes are"
    for service in (outputs.containers, outputs.spark):
        if service is not None:
            assert service.provider == outputs.target, f"{type(service).__name__} of another target"
    return outputs
