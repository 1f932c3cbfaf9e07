"""A local Azure Resource Manager for the tests: HTTPS on 127.0.0.1 (a certificate made per run), bearer
tokens required, ``api-version`` required (and, for the providers the code calls by hand or through an SDK pinned to
one version, one that ARM documents for that provider), body shapes checked, ARM's paths and error shapes, an
in-memory resource store.

There is no Azure emulator for the management plane (moto's role for AWS), so the tests run the real Azure
SDK clients against this server: every request the SDK makes must be one ARM documents, and what the code
does with the answers is tested for real. Behaviour beyond the generic store (a container group's instance
view, a scale set's network interfaces) is added by a test with ``route``.

Generic behaviour: PUT stores the body at its path (adding id, name, type, provisioningState "Succeeded"),
GET returns it or lists the items directly under a collection path, DELETE removes a resource and everything
under it, and ``/subscriptions/S/resources`` and ``/subscriptions/S/resourceGroups/G/resources`` answer
the ``tagName eq 'k' and tagValue eq 'v'`` filter (as does any collection, resource groups included), and
a scale set's ``networkInterfaces`` lists the NICs stored under its VMs.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.credentials import AccessToken

from tests.azure.tls_server import TlsServer

TOKEN = "fake-arm-token"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request, re.Match[str]], Reply]

# The api-versions ARM documents per provider namespace (the Azure REST reference and azure-native's "Other
# available API versions"), for the providers whose version the code picks: ARM answers any other with an error.
API_VERSIONS = {
    "microsoft.containerinstance": {"2023-05-01", "2024-05-01-preview", "2024-09-01-preview", "2024-10-01-preview",
                                    "2024-11-01-preview"},
    "microsoft.operationalinsights": {"2015-11-01-preview", "2020-03-01-preview", "2020-08-01", "2023-09-01",
                                      "2025-02-01", "2025-07-01"},
}
API_VERSION_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
# What ARM reads at the top of a PUT body; anything else is a property sent outside ``properties``.
ENVELOPE = {"id", "name", "type", "location", "tags", "properties", "sku", "identity", "zones", "kind", "plan",
            "extendedLocation", "etag", "managedBy"}


class StaticCredential:
    """A ``TokenCredential`` holding the one token the server accepts."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(TOKEN, 4102444800)  # 2100-01-01

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(TOKEN, 4102444800)


def resource_type(path: str) -> str:
    """``/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachineScaleSets/v/virtualMachines/0``
    -> ``Microsoft.Compute/virtualMachineScaleSets/virtualMachines``."""
    parts = path.strip("/").split("/")
    if "providers" not in parts:
        return "Microsoft.Resources/resourceGroups" if len(parts) == 4 else "Microsoft.Resources/subscriptions"
    after = parts[len(parts) - 1 - parts[::-1].index("providers") + 1:]
    return "/".join([after[0], *after[1::2]])


class FakeArm:
    """The server; ``url`` and ``ca_file`` are what a client needs, ``requests`` what it sent."""

    def __init__(self) -> None:
        self.resources: dict[str, dict[str, Any]] = {}  # lower-cased id -> resource
        self.requests: list[Request] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._lock = threading.Lock()
        self._server = TlsServer(_handler_class(self))
        self.url, self.ca_file = self._server.url, self._server.ca_file

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        with self._lock:
            self.resources.clear()
            self.requests.clear()
            self._routes.clear()

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Answer ``method`` on paths matching ``pattern`` (a regex, whole path, case-insensitive) with
        ``handler`` before the generic store is asked; later routes win."""
        self._routes.insert(0, (method, re.compile(pattern, re.IGNORECASE), handler))

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Store a resource as a PUT would (also what a test uses to seed the world)."""
        resource = json.loads(json.dumps(body))
        resource.update(id=path, name=path.rstrip("/").rsplit("/", 1)[-1], type=resource_type(path))
        resource.setdefault("properties", {}).setdefault("provisioningState", "Succeeded")
        with self._lock:
            self.resources[path.lower()] = resource
        return resource

    def get(self, path: str) -> dict[str, Any] | None:
        return self.resources.get(path.lower())

    def delete(self, path: str) -> bool:
        key = path.lower()
        with self._lock:
            gone = [k for k in self.resources if k == key or k.startswith(key + "/")]
            for k in gone:
                del self.resources[k]
        return bool(gone)

    # -- the HTTP side -------------------------------------------------------------------------------

    def answer(self, request: Request) -> Reply:
        self.requests.append(request)
        refused = refusal(request)
        if refused is not None:
            return refused
        for method, pattern, handler in list(self._routes):
            match = pattern.fullmatch(request.path)
            if method == request.method and match:
                return handler(request, match)
        listing = re.fullmatch(r"(/subscriptions/[^/]+(?:/resourceGroups/[^/]+)?)/resources", request.path, re.I)
        if request.method == "GET" and listing:
            return self._tag_listing(request, listing[1])
        scale_set_nics = re.fullmatch(r"(.*/virtualMachineScaleSets/[^/]+)/networkInterfaces", request.path, re.I)
        if request.method == "GET" and scale_set_nics:
            # Listed under the Compute path, stored under each VM: .../virtualMachines/N/networkInterfaces/NIC
            base = scale_set_nics[1].lower() + "/virtualmachines/"
            depth = base.count("/") + 2
            return Reply(200, {"value": [r for k, r in sorted(self.resources.items())
                                         if k.startswith(base) and k.count("/") == depth
                                         and "/networkinterfaces/" in k]})
        if request.method == "PUT":
            existed = self.get(request.path) is not None
            return Reply(200 if existed else 201, self.put(request.path, request.body or {}))
        if request.method == "GET":
            found = self.get(request.path)
            if found is not None:
                return Reply(200, found)
            if _is_collection(request.path):
                return Reply(200, {"value": _filtered(self.list(request.path), request.query.get("$filter"))})
            return not_found(request.path)
        if request.method == "DELETE":
            return Reply(200 if self.delete(request.path) else 204)
        return Reply(405, {"error": {"code": "MethodNotAllowed", "message": f"{request.method} {request.path}"}})

    def list(self, collection: str) -> list[dict[str, Any]]:
        base = collection.rstrip("/").lower() + "/"
        depth = base.count("/")
        return [r for k, r in sorted(self.resources.items()) if k.startswith(base) and k.count("/") == depth]

    def _tag_listing(self, request: Request, scope: str) -> Reply:
        prefix = scope.lower().rstrip("/") + "/"
        top_level = [r for k, r in sorted(self.resources.items())
                     if k.startswith(prefix) and "/providers/" in k and resource_type(k).count("/") == 1]
        return Reply(200, {"value": _filtered(top_level, request.query.get("$filter"))})


def _filtered(resources: list[dict[str, Any]], expression: str | None) -> list[dict[str, Any]]:
    """A collection's items matching ARM's tag filter, the one ``$filter`` this server understands."""
    if expression is None:
        return resources
    wanted = re.fullmatch(r"tagName eq '([^']*)' and tagValue eq '([^']*)'", expression)
    if not wanted:
        raise ValueError(f"fake ARM: unsupported $filter {expression!r}")
    return [r for r in resources if (r.get("tags") or {}).get(wanted[1]) == wanted[2]]


def refusal(request: Request) -> Reply | None:
    """ARM's answer to an api-version its provider does not serve or a body it cannot read; None when both are fine."""
    version = request.query.get("api-version", "")
    parts = request.path.strip("/").split("/")
    namespace = parts[parts.index("providers") + 1].lower() if "providers" in parts[:-1] else ""
    known = API_VERSIONS.get(namespace)
    if not API_VERSION_SHAPE.fullmatch(version) or (known is not None and version not in known):
        return Reply(400, {"error": {"code": "NoRegisteredProviderFound", "message": (
            f"No registered resource provider found for API version '{version}' and type "
            f"'{resource_type(request.path)}'. The supported api-versions are '{', '.join(sorted(known or []))}'.")}})
    problem = body_problem(request)
    return None if problem is None else Reply(400, {"error": {"code": "InvalidRequestContent", "message": problem}})


def body_problem(request: Request) -> str | None:
    """What is wrong with a request's body for ARM, or None: GET and DELETE carry none, a POST action none or an
    object, a PUT an object of ARM's envelope; a container group names each container's image and resources."""
    body = request.body
    if request.method in ("GET", "DELETE"):
        return None if body is None else f"{request.method} takes no body"
    if not isinstance(body, dict) and not (request.method == "POST" and body is None):
        return f"the {request.method} body must be a JSON object"
    if request.method != "PUT":
        return None
    stray = sorted(set(body) - ENVELOPE)
    if stray:
        return f"unknown top-level member(s) {', '.join(stray)}: resource settings go under 'properties'"
    if resource_type(request.path).lower() == "microsoft.containerinstance/containergroups":
        return _container_group_problem(body)
    return None


def _container_group_problem(body: dict[str, Any]) -> str | None:
    properties = body.get("properties") or {}
    containers = properties.get("containers")
    if not body.get("location") or properties.get("osType") not in ("Linux", "Windows"):
        return "a container group needs location and properties.osType (Linux or Windows)"
    if not isinstance(containers, list) or not containers:
        return "a container group needs properties.containers, a non-empty list"
    for container in containers:
        settings = (container.get("properties") or {}) if isinstance(container, dict) else {}
        requests = (settings.get("resources") or {}).get("requests") or {}
        named = isinstance(container, dict) and container.get("name") and settings.get("image")
        if not named or "cpu" not in requests or "memoryInGB" not in requests:
            return "each container needs name, properties.image and properties.resources.requests (cpu, memoryInGB)"
    return None


def not_found(path: str) -> Reply:
    return Reply(404, {"error": {"code": "ResourceNotFound", "message": f"The Resource '{path}' was not found."}})


def _is_collection(path: str) -> bool:
    """An ARM collection path ends in a type segment: after ``providers/Namespace`` the segments alternate
    type, name, type, name... so an odd count of them (counting the namespace) is a collection."""
    parts = path.strip("/").split("/")
    if "providers" not in parts:
        return len(parts) in (1, 3)  # /subscriptions, /subscriptions/s/resourceGroups
    after = parts[len(parts) - parts[::-1].index("providers"):]
    return len(after) % 2 == 0


def _handler_class(arm: FakeArm) -> type[BaseHTTPRequestHandler]:
    class ArmHandler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: the tests read arm.requests
            pass

        def _serve(self) -> None:
            split = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(split.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                reply = Reply(401, {"error": {"code": "AuthenticationFailed", "message": "no valid bearer token"}})
            elif "api-version" not in query:
                reply = Reply(400, {"error": {"code": "MissingApiVersionParameter",
                                              "message": "The api-version query parameter is required."}})
            else:
                try:
                    reply = arm.answer(Request(self.command, split.path, query, json.loads(raw) if raw else None))
                except ValueError as exc:  # what this server does not understand is the test's mistake: say so
                    reply = Reply(400, {"error": {"code": "InvalidRequest", "message": str(exc)}})
            data = b"" if reply.body is None else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-ms-request-id", "fake")
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_DELETE = do_POST = do_PATCH = _serve

    return ArmHandler
