"""A local instance metadata service (plain HTTP on 127.0.0.1, as the real one is plain HTTP on the link-local
address) playing what the boot secrets fetcher asks of it, strictly as AWS and Azure document it:

- AWS IMDSv2: ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds`` gives a session token;
  ``GET /latest/meta-data/iam/security-credentials/`` (the role's name) and ``.../<role>`` (its credentials) only
  with ``X-aws-ec2-metadata-token`` carrying it, else 401, as with ``HttpTokens=required``.
- Azure: ``GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...&client_id=...`` only with
  ``Metadata: true``, else 400, and only for the identity it knows.

Every request is recorded, so a test checks the shapes the fetcher really sent.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.recorded_http import Seen, reply, seen

SESSION_TOKEN = "imds-session-token"
ROLE = "hpc-node-role"
ROLE_CREDENTIALS = {"AccessKeyId": "ASIAEXAMPLEINSTANCE1", "SecretAccessKey": "instance-role-secret-key",
                    "Token": "instance-role-session-token", "Expiration": "2100-01-01T00:00:00Z"}


class FakeImds:
    """Serves ``credentials`` (AWS, an instance role's) and ``access_token`` (Azure, for ``client_id``)."""

    def __init__(self, credentials: dict[str, str] | None = None, access_token: str | None = None,
                 client_id: str | None = None) -> None:
        self.credentials, self.access_token, self.client_id = credentials, access_token, client_id
        self.seen: list[Seen] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 (http.server's name)
                fake._answer(self)

            do_GET = do_PUT

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        request = seen(handler)
        self.seen.append(request)
        reply(handler, *self._route(request))

    def _route(self, request: Seen) -> tuple[int, Any]:
        method, path, query, headers = request.method, request.path, request.query, request.headers
        credentials_path = "/latest/meta-data/iam/security-credentials/"
        if self.credentials is not None and method == "PUT" and path == "/latest/api/token":
            if not headers.get("x-aws-ec2-metadata-token-ttl-seconds", "").isdigit():
                return 400, "missing X-aws-ec2-metadata-token-ttl-seconds"
            return 200, SESSION_TOKEN
        if self.credentials is not None and method == "GET" and path.startswith(credentials_path):
            if headers.get("x-aws-ec2-metadata-token") != SESSION_TOKEN:
                return 401, "IMDSv2 is required: no session token"
            if path == credentials_path:
                return 200, ROLE
            if path == credentials_path + ROLE:
                return 200, {"Code": "Success", "Type": "AWS-HMAC", **self.credentials}
        if self.access_token is not None and method == "GET" and path == "/metadata/identity/oauth2/token":
            if headers.get("metadata") != "true":
                return 400, {"error": "invalid_request", "error_description": "Required metadata header not specified"}
            if query.get("api-version") != "2018-02-01" or query.get("client_id") != self.client_id:
                return 400, {"error": "invalid_request", "error_description": "unknown api-version or identity"}
            return 200, {"access_token": self.access_token, "resource": query.get("resource"),
                         "token_type": "Bearer", "expires_in": "86399"}
        return 404, "not found"


@pytest.fixture
def aws_imds() -> Iterator[FakeImds]:
    """An AWS instance's metadata service holding its role's ``ROLE_CREDENTIALS``."""
    server = FakeImds(credentials=ROLE_CREDENTIALS)
    yield server
    server.stop()
