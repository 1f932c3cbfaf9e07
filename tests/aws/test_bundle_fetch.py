"""The roles' bundle, fetched at boot without the AWS CLI: ``node_secrets.py aws-object`` (the file the cloud-config
writes onto every node) run by the system's ``python3`` against a ``moto_server`` bucket holding the bundle, with
the instance role's credentials from a local IMDSv2; the GetObject is signed as botocore's S3 signer signs it."""

from __future__ import annotations

import datetime
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import botocore.auth
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from components.boot import node_secrets, script
from components.boot.config import S3Bundle
from tests.aws import moto_fixture
from tests.aws.moto_server import REGION, MotoSession
from tests.boot import fake_imds
from tests.boot.fake_imds import ROLE, ROLE_CREDENTIALS, FakeImds

moto, aws_session, imds = moto_fixture.moto, moto_fixture.aws_session, fake_imds.aws_imds
PYTHON3 = shutil.which("python3", path="/usr/bin:/bin") or "python3"  # the system's, without the venv's packages


def download(url: str, imds: FakeImds, out: Path, deadline: float = 5) -> subprocess.CompletedProcess[str]:
    command = [PYTHON3, node_secrets.__file__, "--imds", imds.url, "--deadline", str(deadline), "aws-object",
               "--url", url, "--region", REGION, "--out", str(out)]
    env = {"PATH": "/usr/bin:/bin", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


def test_the_bundle_lands_whole_and_root_only(aws_session: MotoSession, moto: moto_fixture.MotoServer,
                                              imds: FakeImds, tmp_path: Path) -> None:
    bundle = tmp_path / "ansible.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("site.yml", "- hosts: localhost\n")
        archive.writestr("roles/slurm/tasks/main.yml", "[]\n" * 5000)
    s3 = aws_session.client("s3")
    s3.create_bucket(Bucket="hpc-bundle-1a2b3c")  # in REGION, us-east-1, which takes no location constraint
    s3.put_object(Bucket="hpc-bundle-1a2b3c", Key="bundles/ansible-0123.zip", Body=bundle.read_bytes())
    out = tmp_path / "stage" / "bundle.zip"

    result = download(f"{moto.endpoint}/hpc-bundle-1a2b3c/bundles/ansible-0123.zip", imds, out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == bundle.read_bytes()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and out.stat().st_uid == os.geteuid()
    assert zipfile.ZipFile(out).namelist() == ["site.yml", "roles/slurm/tasks/main.yml"]
    assert (imds.seen[-1].method, imds.seen[-1].path) == ("GET", f"/latest/meta-data/iam/security-credentials/{ROLE}")


def test_a_missing_bundle_fails_in_one_line_and_writes_nothing(
        aws_session: MotoSession, moto: moto_fixture.MotoServer, imds: FakeImds, tmp_path: Path) -> None:
    aws_session.client("s3").create_bucket(Bucket="hpc-bundle-empty")
    url = f"{moto.endpoint}/hpc-bundle-empty/bundles/ansible-0123.zip"
    result = download(url, imds, tmp_path / "bundle.zip", deadline=0)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"cloud-hpc-toolkit fetch: could not download {url}: check the instance role may read "
                           "it (s3:GetObject), the network and the bucket")
    assert "HTTP 404" in line and "NoSuchKey" in line
    assert list(tmp_path.iterdir()) == []


def test_the_get_is_signed_as_botocores_s3_signer_signs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Byte for byte: S3 signs the path as sent and needs the payload's hash among the signed headers."""
    bundle = S3Bundle("hpc-bundle-1a2b3c", "bundles/ansible 01+x.zip", "eu-west-3")
    assert bundle.url == "https://hpc-bundle-1a2b3c.s3.eu-west-3.amazonaws.com/bundles/ansible%2001%2Bx.zip"
    now = datetime.datetime(2026, 11, 28, 8, 5, 9, tzinfo=datetime.UTC)
    ours = node_secrets.sigv4_headers(bundle.url, b"", {"X-Amz-Content-SHA256": node_secrets.EMPTY_SHA256},
                                      "eu-west-3", "s3", ROLE_CREDENTIALS, now, method="GET")

    request = AWSRequest(method="GET", url=bundle.url, headers={"X-Amz-Date": now.strftime("%Y%m%dT%H%M%SZ")})
    signer = S3SigV4Auth(Credentials(ROLE_CREDENTIALS["AccessKeyId"], ROLE_CREDENTIALS["SecretAccessKey"],
                                     ROLE_CREDENTIALS["Token"]), "s3", "eu-west-3")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now.replace(tzinfo=None))
    signer.add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Content-SHA256"] == request.headers["X-Amz-Content-SHA256"]


def test_the_boot_script_downloads_through_it_from_the_virtual_hosted_url() -> None:
    bundle = S3Bundle("hpc-bundle-1a2b3c", "bundles/ansible-0123.zip", "cn-north-1", dns_suffix="amazonaws.com.cn")
    fetch = script._fetch(bundle)
    assert (f"python3 {script.NODE_SECRETS} --deadline {script.BUNDLE_DEADLINE} aws-object --url "
            "https://hpc-bundle-1a2b3c.s3.cn-north-1.amazonaws.com.cn/bundles/ansible-0123.zip --region cn-north-1 "
            "--out /run/cloud-hpc-toolkit/bundle.zip || fail") in fetch
