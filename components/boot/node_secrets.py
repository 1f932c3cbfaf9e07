"""Fetch this node role's boot secrets (the munge key, the host private key) from the cloud's secret store and
install them, at first boot, before munge and sshd need them; on AWS, fetch the roles' bundle from S3 too.

Standalone on purpose: the cloud-config writes this very file onto the node and the boot script runs it with the
image's ``python3`` (cloud-init's own interpreter), so it uses the standard library only: no boto3, no Azure SDK,
no project imports. AWS: the instance role's credentials from IMDSv2 (a token first: IMDSv2 is required on the
nodes), then a SigV4-signed Secrets Manager ``GetSecretValue``. Azure: a token for Key Vault from the managed
identity endpoint of IMDS, then Key Vault's REST ``GET secret``. Both are retried until ``--deadline``: a new
instance profile, role or role assignment takes a while to reach a new node. The bundle is an S3 ``GetObject``
signed the same way (``aws-object``), so a node needs no AWS CLI, which not every image has or can install
(Ubuntu 24.04's archive has none).

The secret is JSON: ``{"munge_key": <base64>, "host_key": <OpenSSH private key>}`` (``secret_document``).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import TypeVar

IMDS = "http://169.254.169.254"
# Under --root: the munge key staged on tmpfs (the munge role installs it from there), the host key where sshd reads it
MUNGE_KEY = "run/cloud-hpc-toolkit/munge.key"
HOST_KEY = "etc/ssh/ssh_host_ed25519_key"
KEY_VAULT_API = "7.4"
IMDS_TOKEN_API = "2018-02-01"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# The metadata service is on the instance itself: a proxy from the environment must never see its answers.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))
T = TypeVar("T")


class FetchError(Exception):
    """One line: what failed and what to check."""


def secret_document(munge_key_base64: str, host_key: str) -> str:
    """The secret's JSON as the stack stores it and :func:`install` reads it."""
    return json.dumps({"munge_key": munge_key_base64, "host_key": host_key.strip() + "\n"})


def install(document: str, root: str) -> None:
    """Write the munge key and the host private key under ``root``, root-only (0600) from their first byte."""
    try:
        values = json.loads(document)
        munge, host = base64.b64decode(values["munge_key"], validate=True), values["host_key"]
    except (ValueError, KeyError, TypeError) as error:
        raise FetchError(f"the secret is not the toolkit's boot secret ({error}): redeploy the stack") from None
    for relative, content in ((MUNGE_KEY, munge), (HOST_KEY, host.encode())):
        write_private(os.path.join(root, relative), content)


def write_private(path: str, content: bytes) -> None:
    """``content`` at ``path``, root-only (0600) from its first byte, whole or not at all."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    partial = path + ".partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    os.chmod(partial, 0o600)
    os.replace(partial, path)


def sigv4_headers(url: str, body: bytes, headers: dict[str, str], region: str, service: str,
                  credentials: dict[str, str], now: datetime.datetime, method: str = "POST") -> dict[str, str]:
    """``headers`` plus the SigV4 ones (``X-Amz-Date``, the session token, ``Authorization``) for a ``method``
    request of ``body`` to ``url`` (its path as sent, already encoded, which S3 signs as it is; no query), as AWS's
    Signature Version 4 documents them."""
    parts = urllib.parse.urlsplit(url)
    if parts.query:
        raise ValueError(f"sigv4_headers: {url} has a query, which this signer does not sign")
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    signed = {**headers, "Host": parts.netloc, "X-Amz-Date": amz_date}
    if credentials.get("Token"):
        signed["X-Amz-Security-Token"] = credentials["Token"]
    canonical_headers = sorted((name.lower(), " ".join(value.split())) for name, value in signed.items())
    names = ";".join(name for name, _ in canonical_headers)
    canonical = "\n".join([method, parts.path or "/", "", *(f"{name}:{value}" for name, value in canonical_headers),
                           "", names, hashlib.sha256(body).hexdigest()])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + credentials["SecretAccessKey"]).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={credentials['AccessKeyId']}/{scope}, "
                               f"SignedHeaders={names}, Signature={signature}")
    return signed


def aws_credentials(imds: str) -> dict[str, str]:
    """The instance role's temporary credentials, through IMDSv2 (a session token first)."""
    token = _read(_LOCAL, urllib.request.Request(f"{imds}/latest/api/token", method="PUT",
                                                 headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"}))
    base = f"{imds}/latest/meta-data/iam/security-credentials/"
    with_token = {"X-aws-ec2-metadata-token": token}
    roles = _read(_LOCAL, urllib.request.Request(base, headers=with_token)).split()
    if not roles:
        raise FetchError("no instance role on this instance: check the instance profile")
    return json.loads(_read(_LOCAL, urllib.request.Request(base + roles[0], headers=with_token)))


def aws_secret(secret_id: str, region: str, endpoint: str, imds: str) -> str:
    """The secret's string, read with the instance role's credentials."""
    body = json.dumps({"SecretId": secret_id}).encode()
    headers = sigv4_headers(endpoint, body, {"Content-Type": "application/x-amz-json-1.1",
                                             "X-Amz-Target": "secretsmanager.GetSecretValue"},
                            region, "secretsmanager", aws_credentials(imds), datetime.datetime.now(datetime.UTC))
    opener = urllib.request.build_opener()
    answer = json.loads(_read(opener, urllib.request.Request(endpoint + "/", data=body, headers=headers,
                                                             method="POST")))
    return answer["SecretString"]


def aws_object(url: str, region: str, imds: str) -> bytes:
    """The bytes of the S3 object at ``url`` (``https://<bucket>.s3.<region>.<suffix>/<key>``), read with the
    instance role's credentials."""
    headers = sigv4_headers(url, b"", {"X-Amz-Content-SHA256": EMPTY_SHA256}, region, "s3",
                            aws_credentials(imds), datetime.datetime.now(datetime.UTC), method="GET")
    return _read_bytes(urllib.request.build_opener(), urllib.request.Request(url, headers=headers), timeout=120)


def azure_token(resource: str, client_id: str, imds: str) -> str:
    """An access token for ``resource`` of the user-assigned identity ``client_id``, from IMDS."""
    query = urllib.parse.urlencode({"api-version": IMDS_TOKEN_API, "resource": resource, "client_id": client_id})
    return json.loads(_read(_LOCAL, urllib.request.Request(f"{imds}/metadata/identity/oauth2/token?{query}",
                                                           headers={"Metadata": "true"})))["access_token"]


def azure_secret(vault_url: str, name: str, client_id: str, imds: str) -> str:
    """The secret's value, read with the nodes' user-assigned identity's token for Key Vault."""
    token = azure_token("https://vault.azure.net", client_id, imds)
    url = f"{vault_url.rstrip('/')}/secrets/{urllib.parse.quote(name)}?api-version={KEY_VAULT_API}"
    answer = _read(urllib.request.build_opener(),
                   urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}))
    return json.loads(answer)["value"]


def _read(opener: urllib.request.OpenerDirector, request: urllib.request.Request) -> str:
    return _read_bytes(opener, request).decode()


def _read_bytes(opener: urllib.request.OpenerDirector, request: urllib.request.Request, timeout: float = 10) -> bytes:
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        detail = " ".join(error.read().decode(errors="replace").split())[:300]  # one line, JSON or XML
        raise FetchError(f"{request.get_method()} {request.full_url.split('?')[0]}: HTTP {error.code} {detail}") \
            from None
    except (urllib.error.URLError, OSError) as error:
        raise FetchError(f"{request.get_method()} {request.full_url.split('?')[0]}: {error}") from None


def with_retries(fetch: Callable[[], T], deadline: float, pause: float = 5.0) -> T:
    """``fetch()``, again after each failure until ``deadline`` seconds have passed; then its last error."""
    end = time.monotonic() + deadline
    while True:
        try:
            return fetch()
        except (FetchError, KeyError, ValueError) as error:
            if time.monotonic() + pause > end:
                raise FetchError(str(error)) from None
            print(f"cloud-hpc-toolkit fetch: {error}; retrying", file=sys.stderr)
            time.sleep(pause)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="/", help="where the node's file system starts (tests: a folder)")
    parser.add_argument("--imds", default=IMDS, help="the instance metadata service's base URL")
    parser.add_argument("--deadline", type=float, default=600, help="seconds to keep retrying")
    clouds = parser.add_subparsers(dest="cloud", required=True)
    aws = clouds.add_parser("aws", help="AWS Secrets Manager, with the instance role")
    aws.add_argument("--secret-id", required=True, help="the secret's ARN")
    aws.add_argument("--region", required=True, help="the secret's region")
    aws.add_argument("--endpoint", required=True, help="Secrets Manager's endpoint URL in that region")
    azure = clouds.add_parser("azure", help="Azure Key Vault, with the nodes' user-assigned identity")
    azure.add_argument("--vault-url", required=True, help="https://<vault>.vault.azure.net")
    azure.add_argument("--name", required=True, help="the secret's name")
    azure.add_argument("--client-id", required=True, help="the identity's client id")
    bundle = clouds.add_parser("aws-object", help="an S3 object (the roles' bundle), with the instance role")
    bundle.add_argument("--url", required=True, help="the object's URL, https://<bucket>.s3.<region>.<suffix>/<key>")
    bundle.add_argument("--region", required=True, help="the bucket's region")
    bundle.add_argument("--out", required=True, help="where to write it (root-only)")
    args = parser.parse_args(argv)
    if args.cloud == "aws-object":
        try:
            write_private(args.out, with_retries(lambda: aws_object(args.url, args.region, args.imds), args.deadline))
        except (FetchError, OSError) as error:
            print(f"cloud-hpc-toolkit fetch: could not download {args.url}: check the instance role may read it "
                  f"(s3:GetObject), the network and the bucket ({error})", file=sys.stderr)
            return 1
        return 0
    if args.cloud == "aws":
        def fetch() -> str:
            return aws_secret(args.secret_id, args.region, args.endpoint, args.imds)
        where = f"secret {args.secret_id}: check the instance role may read it (secretsmanager:GetSecretValue)"
    else:
        def fetch() -> str:
            return azure_secret(args.vault_url, args.name, args.client_id, args.imds)
        where = (f"secret {args.name} of {args.vault_url}: check the nodes' identity holds Key Vault Secrets User "
                 "on it and the vault admits this subnet")
    try:
        install(with_retries(fetch, args.deadline), args.root)
    except FetchError as error:
        print(f"cloud-hpc-toolkit secrets: could not fetch {where} ({error})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
