"""The boot script's secrets fetch on AWS, for real: ``components/boot/node_secrets.py`` (the very file the
cloud-config writes onto the node), run by the system's ``python3`` (the standard library only, as on the node
image) with the command line the boot script runs, against a ``moto_server`` holding the secret as the stack makes
it, with credentials from a local IMDSv2. The keys land where munge and sshd expect them, root-only; the request is
signed as botocore signs it."""

from __future__ import annotations

import base64
import datetime
import json
import os
import secrets
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path

import botocore.auth
import paramiko
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from components.boot import node_secrets, script
from components.boot.config import AwsSecret
from tests.aws import moto_fixture
from tests.aws.moto_server import REGION, MotoSession
from tests.boot import fake_imds
from tests.boot.configs import aws, fresh_host_key
from tests.boot.fake_imds import ROLE, ROLE_CREDENTIALS, SESSION_TOKEN, FakeImds

moto, aws_session, imds = moto_fixture.moto, moto_fixture.aws_session, fake_imds.aws_imds
PYTHON3 = shutil.which("python3", path="/usr/bin:/bin") or "python3"  # the system's, without the venv's packages
SSHD = "/usr/sbin/sshd"  # openssh-server, which the Makefile installs for the local target


def fetch(secret: AwsSecret, imds: FakeImds, root: Path, deadline: float = 5) -> subprocess.CompletedProcess[str]:
    """The boot script's fetch command, with the node's paths under ``root`` and the local IMDS."""
    command = [PYTHON3, node_secrets.__file__, "--root", str(root), "--imds", imds.url, "--deadline", str(deadline),
               *script.fetch_arguments(aws("compute", munge_key=secret))]
    env = {"PATH": "/usr/bin:/bin", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


def test_the_fetch_installs_the_keys_where_munge_and_sshd_read_them(
        aws_session: MotoSession, moto: moto_fixture.MotoServer, imds: FakeImds, tmp_path: Path) -> None:
    munge, (private, public) = secrets.token_bytes(1024), fresh_host_key()
    made = aws_session.client("secretsmanager").create_secret(
        Name="hpc-compute-boot-1a2b3c", SecretString=node_secrets.secret_document(base64.b64encode(munge).decode(),
                                                                                  private))
    result = fetch(AwsSecret(made["ARN"], REGION, moto.endpoint), imds, tmp_path)
    assert result.returncode == 0, result.stderr

    munge_file, key_file = tmp_path / node_secrets.MUNGE_KEY, tmp_path / node_secrets.HOST_KEY
    assert munge_file.read_bytes() == munge
    assert key_file.read_text() == private
    for path in (munge_file, key_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_uid == os.geteuid()
    # what the munge role installs from, and what sshd serves beside the pinned .pub the boot script writes
    assert script.ansible_vars(aws("compute"))["munge_key_src"] == f"/{node_secrets.MUNGE_KEY}"
    assert script.HOST_KEY == f"/{node_secrets.HOST_KEY}"
    assert f"> {script.HOST_KEY}.pub" in script.boot_script(aws("compute"))
    assert list(tmp_path.rglob("*.partial")) == []
    assert served_host_key(key_file) == public  # sshd takes the file as it is and serves the key the outputs pin


def served_host_key(key_file: Path) -> str:
    """The host key a real sshd serves from ``key_file`` (as the node's sshd reads it), on loopback, as the SSH
    client sees it before any login."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", "/dev/null", "-o", f"HostKey={key_file}", "-o",
                             "ListenAddress=127.0.0.1", "-p", str(port), "-o", f"PidFile={key_file}.pid"],
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                assert sshd.poll() is None and time.monotonic() < deadline, sshd.stderr.read() if sshd.stderr else ""
                time.sleep(0.05)
        with paramiko.Transport(connection) as transport:
            transport.start_client(timeout=10)
            key = transport.get_remote_server_key()
            return f"{key.get_name()} {key.get_base64()}"
    finally:
        sshd.terminate()
        sshd.wait(timeout=10)


def test_sshd_cannot_start_without_a_host_key() -> None:
    """Why no connection can meet another key while a node boots: the cloud-config deletes the image's keys and
    makes none, and sshd refuses to start with none (until the boot script installs the pinned one)."""
    result = subprocess.run([SSHD, "-t", "-f", "/dev/null", "-o", "HostKey=/nonexistent/ssh_host_ed25519_key"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "no hostkeys available" in result.stderr


def test_credentials_come_from_imdsv2_with_a_session_token(
        aws_session: MotoSession, moto: moto_fixture.MotoServer, imds: FakeImds, tmp_path: Path) -> None:
    made = aws_session.client("secretsmanager").create_secret(
        Name="hpc-head-boot", SecretString=node_secrets.secret_document(base64.b64encode(b"k" * 1024).decode(),
                                                                        fresh_host_key()[0]))
    assert fetch(AwsSecret(made["ARN"], REGION, moto.endpoint), imds, tmp_path).returncode == 0
    token, *reads = imds.seen
    assert (token.method, token.path) == ("PUT", "/latest/api/token")
    assert token.headers["x-aws-ec2-metadata-token-ttl-seconds"].isdigit()
    assert [(read.method, read.path) for read in reads] == [
        ("GET", "/latest/meta-data/iam/security-credentials/"),
        ("GET", f"/latest/meta-data/iam/security-credentials/{ROLE}")]
    assert all(read.headers["x-aws-ec2-metadata-token"] == SESSION_TOKEN for read in reads)


def test_a_secret_the_role_cannot_read_fails_in_one_line_and_writes_nothing(
        aws_session: MotoSession, moto: moto_fixture.MotoServer, imds: FakeImds, tmp_path: Path) -> None:
    arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:hpc-missing-AbCdEf"
    result = fetch(AwsSecret(arn, REGION, moto.endpoint), imds, tmp_path, deadline=0)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"cloud-hpc-toolkit secrets: could not fetch secret {arn}: check the instance role may "
                           "read it (secretsmanager:GetSecretValue)")
    assert "ResourceNotFoundException" in line
    assert list(tmp_path.rglob("*")) == []


def test_the_request_is_signed_as_botocore_signs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Signature Version 4, byte for byte: botocore's signer is the reference AWS's SDKs share."""
    url, body = "https://secretsmanager.eu-west-3.amazonaws.com", json.dumps({"SecretId": "arn:x"}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.GetSecretValue"}
    now = datetime.datetime(2026, 11, 27, 21, 5, 9, tzinfo=datetime.UTC)
    ours = node_secrets.sigv4_headers(url, body, headers, "eu-west-3", "secretsmanager", ROLE_CREDENTIALS, now)

    request = AWSRequest(method="POST", url=url + "/", data=body, headers={**headers, "X-Amz-Date":
                                                                           now.strftime("%Y%m%dT%H%M%SZ")})
    credentials = Credentials(ROLE_CREDENTIALS["AccessKeyId"], ROLE_CREDENTIALS["SecretAccessKey"],
                              ROLE_CREDENTIALS["Token"])
    signer = SigV4Auth(credentials, "secretsmanager", "eu-west-3")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now.replace(tzinfo=None))
    signer.add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Security-Token"] == ROLE_CREDENTIALS["Token"]
