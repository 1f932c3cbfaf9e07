"""The boot script's secrets fetch on Azure, for real: ``components/boot/node_secrets.py`` (the very file the
custom data writes onto the node), run by the system's ``python3`` with the command line the boot script runs,
against a local IMDS (the managed identity's token) and a local Key Vault over HTTPS (fake_key_vault.py), both
checking the request shapes Azure documents: ``Metadata: true``, the token endpoint's api-version, resource and
client id, then a bearer token and Key Vault's api-version on ``GET /secrets/{name}``."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.boot import node_secrets, script
from components.boot.config import KeyVaultSecret
from tests.azure.fake_key_vault import FakeKeyVault
from tests.boot.configs import azure, fresh_host_key
from tests.boot.fake_imds import FakeImds

PYTHON3 = shutil.which("python3", path="/usr/bin:/bin") or "python3"  # the system's, without the venv's packages
CLIENT_ID = "00000000-0000-0000-0000-0000000000c1"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.vault-token.c2ln"


@pytest.fixture
def imds() -> Iterator[FakeImds]:
    server = FakeImds(access_token=TOKEN, client_id=CLIENT_ID)
    yield server
    server.stop()


def fetch(secret: KeyVaultSecret, imds: FakeImds, vault: FakeKeyVault, root: Path,
          deadline: float = 5) -> subprocess.CompletedProcess[str]:
    """The boot script's fetch command, with the node's paths under ``root``, the local IMDS, and the local
    vault's certificate trusted as the node trusts Key Vault's."""
    command = [PYTHON3, node_secrets.__file__, "--root", str(root), "--imds", imds.url, "--deadline", str(deadline),
               *script.fetch_arguments(azure("compute", munge_key=secret))]
    env = {"PATH": "/usr/bin:/bin", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1", "SSL_CERT_FILE": vault.ca_file}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


def test_the_fetch_installs_the_keys_with_the_identitys_token(imds: FakeImds, tmp_path: Path) -> None:
    munge, (private, _) = secrets.token_bytes(1024), fresh_host_key()
    vault = FakeKeyVault({"compute-boot": node_secrets.secret_document(base64.b64encode(munge).decode(), private)},
                         TOKEN)
    try:
        result = fetch(KeyVaultSecret(vault.url, "compute-boot", CLIENT_ID), imds, vault, tmp_path)
    finally:
        vault.stop()
    assert result.returncode == 0, result.stderr
    munge_file, key_file = tmp_path / node_secrets.MUNGE_KEY, tmp_path / node_secrets.HOST_KEY
    assert munge_file.read_bytes() == munge and key_file.read_text() == private
    for path in (munge_file, key_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_uid == os.geteuid()

    [token] = imds.seen
    assert (token.method, token.path, token.headers["metadata"]) == ("GET", "/metadata/identity/oauth2/token", "true")
    assert token.query == {"api-version": "2018-02-01", "resource": "https://vault.azure.net", "client_id": CLIENT_ID}
    [read] = vault.seen
    assert (read.path, read.query) == ("/secrets/compute-boot", {"api-version": node_secrets.KEY_VAULT_API})
    assert read.headers["authorization"] == f"Bearer {TOKEN}"


def test_a_secret_the_identity_cannot_find_fails_in_one_line_and_writes_nothing(imds: FakeImds,
                                                                                tmp_path: Path) -> None:
    vault = FakeKeyVault({}, TOKEN)
    try:
        result = fetch(KeyVaultSecret(vault.url, "head-boot", CLIENT_ID), imds, vault, tmp_path, deadline=0)
    finally:
        vault.stop()
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"cloud-hpc-toolkit secrets: could not fetch secret head-boot of {vault.url}: check the "
                           "nodes' identity holds Key Vault Secrets User on it")
    assert "HTTP 404" in line and "SecretNotFound" in line
    assert list(tmp_path.rglob("*")) == []
