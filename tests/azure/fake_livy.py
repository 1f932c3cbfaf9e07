"""A local Livy batch API over TLS on 127.0.0.1, as HDInsight's gateway serves it: basic auth with the cluster
login, ``X-Requested-By`` required on POST and DELETE (Livy's CSRF check), batches that walk through the states
a test plans (``starting`` -> ``running`` -> ``success``/``dead``), their logs paged by ``from``/``size``."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.azure.tls_server import TlsServer
from tests.recorded_http import reply as send


@dataclass
class Batch:
    id: int
    body: dict[str, Any]
    states: list[str]  # walked one per GET; the last one stays
    log: list[str]
    driver_log_url: str | None = None
    polls: int = 0

    @property
    def state(self) -> str:
        return self.states[min(self.polls, len(self.states) - 1)]


@dataclass
class Plan:
    """What the next submitted batch does."""

    states: list[str] = field(default_factory=lambda: ["starting", "running", "success"])
    log: list[str] = field(default_factory=list)
    on_final: Callable[[Batch], None] | None = None  # e.g. write the job's output, as the driver would
    unavailable: int = 0  # how many state reads the gateway answers 503 first (a blip while following)
    driver_log_url: str | None = None  # appInfo.driverLogUrl, which Livy reports once YARN runs the driver


class FakeLivy:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password
        self.batches: dict[int, Batch] = {}
        self.deleted: list[int] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers
        self.plan = Plan()
        self._lock = threading.Lock()
        self._server = TlsServer(_handler(self))
        self.url, self.ca_file = f"{self._server.url}/livy", self._server.ca_file

    def stop(self) -> None:
        self._server.stop()

    def answer(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append((method, path, headers))
            expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            if headers.get("authorization") != expected:
                return 401, {"msg": "Unauthorized"}
            if method in ("POST", "DELETE") and not headers.get("x-requested-by"):
                return 400, {"msg": "Missing Required Header for CSRF protection."}
            parts = path.removeprefix("/livy").strip("/").split("/")
            if method == "POST" and parts == ["batches"]:
                batch = Batch(len(self.batches), body, list(self.plan.states), list(self.plan.log),
                              self.plan.driver_log_url)
                self.batches[batch.id] = batch
                return 201, self._view(batch)
            batch = self.batches.get(int(parts[1])) if len(parts) > 1 and parts[1].isdigit() else None
            if batch is None or batch.id in self.deleted:
                return 404, {"msg": f"Session '{parts[1] if len(parts) > 1 else ''}' not found."}
            if method == "DELETE" and len(parts) == 2:
                self.deleted.append(batch.id)
                return 200, {"msg": "deleted"}
            if method == "GET" and len(parts) == 2 and self.plan.unavailable > 0:
                self.plan.unavailable -= 1
                return 503, {"msg": "Service Unavailable"}
            if method == "GET" and len(parts) == 2:
                if self.plan.on_final and batch.polls == len(batch.states) - 1:  # it ends now, as Spark would
                    self.plan.on_final(batch)
                view = self._view(batch)
                batch.polls += 1
                return 200, view
            if method == "GET" and parts[2:] == ["log"]:
                start, size = int(query.get("from", ["0"])[0]), int(query.get("size", ["100"])[0])
                return 200, {"id": batch.id, "from": start, "total": len(batch.log),
                             "log": batch.log[start:start + size]}
            return 404, {"msg": f"no route {method} {path}"}

    @staticmethod
    def _view(batch: Batch) -> dict[str, Any]:
        return {"id": batch.id, "name": batch.body.get("name"), "state": batch.state, "appId": None,
                "appInfo": {"driverLogUrl": batch.driver_log_url, "sparkUiUrl": None}, "log": batch.log[-2:]}


def _handler(livy: FakeLivy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else {}
            status, reply = livy.answer(self.command, url.path, parse_qs(url.query),
                                        {key.lower(): value for key, value in self.headers.items()}, body)
            send(self, status, reply)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
