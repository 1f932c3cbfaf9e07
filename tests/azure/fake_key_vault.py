"""A local Key Vault data plane for the boot secrets fetcher: HTTPS on 127.0.0.1 (tls_server.py), ``GET
/secrets/{name}?api-version=...`` answered as Key Vault documents it (``{"value", "id", "attributes"}``) only with
``Authorization: Bearer <the token IMDS handed out>`` (else 401) and a supported ``api-version`` (else 400); an
unknown secret is 404 ``SecretNotFound``. Every request is recorded."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from tests.azure.tls_server import TlsServer
from tests.recorded_http import Seen, reply, seen

API_VERSIONS = ("7.4", "7.5", "2025-07-01")


class FakeKeyVault:
    def __init__(self, secrets: dict[str, str], token: str) -> None:
        self.secrets, self.token = secrets, token
        self.seen: list[Seen] = []
        vault = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                vault._answer(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = TlsServer(Handler)
        self.url, self.ca_file = self._server.url, self._server.ca_file

    def stop(self) -> None:
        self._server.stop()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        request = seen(handler)
        self.seen.append(request)
        reply(handler, *self._route(request), content_type="application/json; charset=utf-8")

    def _route(self, seen: Seen) -> tuple[int, Any]:
        if seen.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer token"}}
        if seen.query.get("api-version") not in API_VERSIONS:
            return 400, {"error": {"code": "BadParameter", "message": "The specified version is not supported"}}
        name = unquote(seen.path.removeprefix("/secrets/")).rstrip("/")
        if not seen.path.startswith("/secrets/") or "/" in name:
            return 404, {"error": {"code": "NotFound", "message": "not a secret's path"}}
        if name not in self.secrets:
            return 404, {"error": {"code": "SecretNotFound",
                                   "message": f"A secret with (name/id) {name} was not found in this key vault"}}
        return 200, {"value": self.secrets[name], "id": f"{self.url}/secrets/{name}/0123456789abcdef",
                     "attributes": {"enabled": True}, "contentType": "application/json"}
