"""What the local fakes of cloud endpoints (metadata services, Key Vault, Livy) share: the record of a request, as
a test checks its shape, and a reply written with its length."""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case


def seen(handler: BaseHTTPRequestHandler) -> Seen:
    """The request ``handler`` is serving (its body is left unread)."""
    parts = urlsplit(handler.path)
    return Seen(handler.command, parts.path, {key: values[0] for key, values in parse_qs(parts.query).items()},
                {key.lower(): value for key, value in handler.headers.items()})


def reply(handler: BaseHTTPRequestHandler, status: int, body: Any, content_type: str = "application/json") -> None:
    """``body`` (JSON, or text as it is) with ``status``."""
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
