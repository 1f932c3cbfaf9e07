"""A real ``moto_server`` on loopback, so the boto3 code paths are tested through HTTP, the way they talk to AWS.

``MotoSession`` is a ``boto3.session.Session`` with fake credentials that passes the server's
``endpoint_url`` to every client it makes and refuses to send any request anywhere else.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.exceptions import ClientError

REGION = "us-east-1"
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing",
                    "aws_session_token": "testing"}
# Nothing may reach a real AWS endpoint, the instance metadata service or a proxy, whatever the shell has.
HERMETIC_ENV = {"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_DEFAULT_REGION": REGION,
                "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1",
                **{k.upper(): v for k, v in FAKE_CREDENTIALS.items()}}
UNSET_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # moto-api calls never go through a proxy
# Service models parsed once for the whole run: each new session would parse ec2's again (~0.3 s per test).
_MODELS = botocore.loaders.create_loader()


class MotoServer:
    """``moto_server -H 127.0.0.1 -p PORT`` as a child process; ``stop`` always ends it."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in UNSET_ENV} | HERMETIC_ENV
        binary = Path(sys.executable).with_name("moto_server")
        # a file, not a pipe: the server logs every request, and a full pipe would block it mid-test
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(self.port)], env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.process.returncode}: {self.log_tail()}")
            try:
                _DIRECT.open(f"{self.endpoint}/moto-api/", timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"moto_server did not answer on {self.endpoint} within {timeout:g} s")

    def reset(self) -> None:
        """Forget every resource (``POST /moto-api/reset``), so each test starts from an empty account."""
        _DIRECT.open(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=10).close()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=1)  # its SIGTERM handler exits slowly; it has nothing to save
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def log_tail(self, size: int = 4000) -> str:
        """The end of the server's log: a 500 from moto has its traceback there."""
        self.log.seek(max(0, self.log.seek(0, os.SEEK_END) - size))
        return self.log.read().decode(errors="replace")


class MotoSession(boto3.session.Session):
    """A session whose every client talks to ``endpoint`` (and nothing else) with fake credentials."""

    def __init__(self, endpoint: str, region: str = REGION) -> None:
        core = botocore.session.get_session()
        core.register_component("data_loader", _MODELS)
        super().__init__(botocore_session=core, region_name=region, **FAKE_CREDENTIALS)
        self.endpoint = endpoint
        self.events.register("before-send", self._only_moto)

    def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        return super().client(service_name, *args, **{**kwargs, "endpoint_url": self.endpoint})

    def _only_moto(self, request: Any, **_: Any) -> None:
        if not request.url.startswith(self.endpoint + "/"):
            raise AssertionError(f"a test tried to reach {request.url}; only {self.endpoint} is allowed")


def fail_calls(session: boto3.session.Session, service_id: str, operation: str, code: str) -> None:
    """Make every ``operation`` call of ``session``'s clients fail with error ``code``, for the answers moto
    never gives (a missing permission, a resource deleted between two calls)."""
    def fail(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": f"{code} for {operation} (injected by the test)"}},
                          operation)

    session.events.register(f"before-call.{service_id}.{operation}", fail)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
