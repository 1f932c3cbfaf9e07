"""Fixtures for the remote/ tests: a head and four compute sshds on 127.0.0.1, and the Outputs naming them.

All nodes have address 127.0.0.1; the Pool's ``ports`` override tells it which port is which node (the
head's port for the direct connection, each compute's port as the head's direct-tcpip target).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from remote.pool import Pool
from tests.remote.sshd import SSHD, Cluster, Keys, Sshd, keygen, new_sshd, outputs_for
from tests.root import need_root

COMPUTES = 4


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    need_root("the remote tests", SSHD)
    base = tmp_path_factory.mktemp("client-keys")
    ed = base / "id_ed25519"
    rsa = base / "id_rsa"
    authorized = base / "authorized_keys"
    authorized.write_text(f"{keygen(ed)}\n{keygen(rsa, 'rsa')}\n")
    authorized.chmod(0o600)
    return Keys(ed, rsa, authorized)


@pytest.fixture(scope="session")
def sshd_factory(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[list[Sshd]]:
    """Creates extra sshds (not started); every one of them is stopped at the end of the session."""
    made: list[Sshd] = []
    yield made
    for sshd in made:
        sshd.stop()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory, keys: Keys, sshd_factory: list[Sshd]) -> Cluster:
    head = new_sshd(sshd_factory, tmp_path_factory, keys, "head")
    computes = [new_sshd(sshd_factory, tmp_path_factory, keys, f"compute-{i}") for i in range(COMPUTES)]
    for sshd in [head, *computes]:
        sshd.start(wait=False)
    for sshd in [head, *computes]:
        sshd.wait_ready()
    return Cluster(head, computes, keys, outputs_for(head, computes, keys.ed25519))


@pytest.fixture
def pool(cluster: Cluster) -> Iterator[Pool]:
    with Pool(cluster.outputs, ports=cluster.ports, deadline=15.0) as the_pool:
        yield the_pool
