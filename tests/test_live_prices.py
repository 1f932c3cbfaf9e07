"""``invoke plan --live-prices`` against local HTTP servers this test starts: the Azure Retail Prices API in its
documented shape (``Items``, ``NextPageLink``; Windows, Spot and Low Priority meters beside the Linux one) and the
AWS Pricing API's JSON protocol (reached through botocore's ``AWS_ENDPOINT_URL_PRICING``). Every failure of either
lookup (no credentials, no network, an error status, an answer in another shape) is one line, exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import stacks
from spec.loader import load_stack_config
from targets.plan.azure_retail_prices import fetch_vm_prices, vm_filter
from targets.plan.prices import PriceError
from targets.plan.report import plan
from tests.recorded_http import Seen, reply, seen

ROOT = Path(__file__).resolve().parents[1]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0Yk7xJ1c0nQ0Rb1kz8w6G8K0z5QmXo1b2c3d4e5f6 plan"
Answer = Callable[[Seen, bytes], tuple[int, Any]]


class Server:
    """A local HTTP server whose every request is answered by ``answer`` and recorded."""

    def __init__(self) -> None:
        self.answer: Answer = lambda request, body: (404, {})
        self.requests: list[tuple[Seen, bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                request = seen(self)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests.append((request, body))
                status, payload = server.answer(request, body)
                reply(self, status, payload, "application/x-amz-json-1.1" if self.command == "POST"
                      else "application/json")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.httpd.shutdown()
    running.httpd.server_close()


def vm_item(size: str, price: float, product: str = "", sku: str = "", kind: str = "Consumption") -> dict[str, Any]:
    """One item as the Retail Prices API documents it."""
    short = size.removeprefix("Standard_").replace("_", " ")
    return {"currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": price, "unitPrice": price,
            "armRegionName": "westeurope", "location": "EU West", "effectiveStartDate": "2025-01-01T00:00:00Z",
            "meterId": "00000000-0000-0000-0000-000000000000", "meterName": sku or short,
            "productId": "DZH318Z0BQ4L", "skuId": "DZH318Z0BQ4L/00TG", "productName": product or
            "Virtual Machines Dsv5 Series", "skuName": sku or short, "serviceName": "Virtual Machines",
            "serviceId": "DZH313Z7MMC8", "serviceFamily": "Compute", "unitOfMeasure": "1 Hour", "type": kind,
            "isPrimaryMeterRegion": True, "armSkuName": size}


def azure_pages(server: Server) -> Answer:
    """Two pages: the Linux meters of the sizes asked, among meters the plan must leave out."""

    def answer(request: Seen, body: bytes) -> tuple[int, Any]:
        if request.query.get("$skip") == "2":
            return 200, {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
                         "Items": [vm_item("Standard_HB120rs_v3", 3.96),
                                   vm_item("Standard_HB120rs_v3", 1.2, sku="HB120rs v3 Spot")],
                         "NextPageLink": None, "Count": 2}
        return 200, {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
                     "Items": [vm_item("Standard_D4s_v5", 0.23),
                               vm_item("Standard_D4s_v5", 0.41, product="Virtual Machines Dsv5 Series Windows"),
                               vm_item("Standard_D4s_v5", 0.05, sku="D4s v5 Low Priority"),
                               vm_item("Standard_D4s_v5", 0.1, kind="DevTestConsumption")],
                     "NextPageLink": f"{server.url}/api/retail/prices?$filter=x&$skip=2", "Count": 4}

    return answer


def test_azure_live_prices_replace_the_vm_rates_and_follow_the_pages(server: Server):
    server.answer = azure_pages(server)
    env = load_stack_config("azure-hpc-dev", ROOT)
    result = plan(env, lambda: stacks.build(env, KEY), live=True, retail_prices_url=f"{server.url}/api/retail/prices")
    assert result.cost is not None
    lines = {line.item.split(" pay-as-you-go")[0]: line for line in result.cost.lines if "pay-as-you-go" in line.item}
    assert lines["Standard_D4s_v5"].unit_usd == 0.23 and lines["Standard_HB120rs_v3"].unit_usd == 3.96
    assert lines["Standard_HB120rs_v3"].per_hour_usd == pytest.approx(4 * 3.96)
    assert all(line.note == "" for line in lines.values())  # list prices now: no longer marked estimates
    assert result.cost.source.startswith("Azure Retail Prices API ") and "offline Azure table" in result.cost.source
    first, second = (request for request, _ in server.requests)
    assert first.path == "/api/retail/prices" and first.query["$filter"] == vm_filter(
        "westeurope", ["Standard_D4s_v5", "Standard_HB120rs_v3"])
    assert "armRegionName eq 'westeurope'" in first.query["$filter"]
    assert "priceType eq 'Consumption'" in first.query["$filter"] and second.query["$skip"] == "2"


@pytest.mark.parametrize(("answer", "expected"), [
    (lambda request, body: (503, {"error": "busy"}), "answered HTTP 503"),
    (lambda request, body: (200, "<html>maintenance</html>"), "answered something that is not JSON"),
    (lambda request, body: (200, {"Items": "none"}), "answered without a list of Items"),
    (lambda request, body: (200, ["Items"]), "answered a JSON list, not an object"),
    (lambda request, body: (200, {"Items": [vm_item("Standard_D4s_v5", "0.23")]}),
     "answered Standard_D4s_v5 with retailPrice '0.23', not a price"),
    (lambda request, body: (200, {"Items": [], "NextPageLink": "https://elsewhere.example/p?$skip=100"}),
     "NextPageLink 'https://elsewhere.example/p?$skip=100' leaves"),
])
def test_azure_lookup_failures_are_one_line(server: Server, answer: Answer, expected: str):
    server.answer = answer
    with pytest.raises(PriceError, match="^--live-prices: the Azure Retail Prices API") as raised:
        fetch_vm_prices("westeurope", ["Standard_D4s_v5"], f"{server.url}/api/retail/prices")
    assert expected in str(raised.value) and "\n" not in str(raised.value)
    assert str(raised.value).endswith("or drop --live-prices for the offline table")


def test_azure_lookup_without_network_is_one_line(server: Server):
    url = f"{server.url}/api/retail/prices"
    server.httpd.shutdown()
    server.httpd.server_close()  # nothing listens there any more
    with pytest.raises(PriceError, match="^--live-prices: cannot reach the Azure Retail Prices API .*Connection "
                                         "refused.*; check this machine's network or drop --live-prices"):
        fetch_vm_prices("westeurope", ["Standard_D4s_v5"], url)


# --- AWS, through the CLI -----------------------------------------------------------------------------------


def invoke_plan(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "-c", "invoke_tasks", "plan", *args]
    base = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "AWS_MAX_ATTEMPTS": "1", "COLUMNS": "80"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=ROOT, env={**base, **env})


CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret-for-a-local-server"}


def price_list(request: Seen, body: bytes) -> tuple[int, Any]:
    """GetProducts: one on-demand document for the instance type asked."""
    filters = {f["Field"]: f["Value"] for f in json.loads(body)["Filters"]}
    usd = {"c5n.18xlarge": "4.0000000000", "c5n.large": "0.1000000000"}[filters["instanceType"]]
    document = {"product": {"attributes": {"instanceType": filters["instanceType"]}},
                "terms": {"OnDemand": {"T.JRTCKXETXF": {"priceDimensions": {"T.JRTCKXETXF.6YS6EN2CT7": {
                    "unit": "Hrs", "pricePerUnit": {"USD": usd}}}}}}}
    return 200, {"FormatVersion": "aws_v1", "PriceList": [json.dumps(document)]}


def test_aws_live_prices_through_the_cli(server: Server):
    server.answer = price_list
    result = invoke_plan("--stack", "hpc-dev", "--live-prices",
                         env={**CREDENTIALS, "AWS_ENDPOINT_URL_PRICING": server.url})
    assert result.returncode == 0, result.stderr
    assert {request.headers["x-amz-target"] for request, _ in server.requests} == {"AWSPriceListService.GetProducts"}
    [fleet] = [row for row in result.stdout.splitlines() if "c5n.18xlarge" in row and "│" in row]
    assert "16.00" in fleet and "11,680.00" in fleet  # 4 × 4.00 an hour, × 730 a month
    [partition] = [row for row in result.stdout.splitlines() if row.startswith("partition compute:")]
    assert "USD 16.00 an hour" in partition  # the partition's price comes from the same live answer
    assert "AWS Pricing API" in " ".join(result.stdout.split())


@pytest.mark.parametrize(("env", "answer", "expected"), [
    ({}, price_list, "--live-prices: no AWS credentials for the AWS Pricing API; configure some"),
    (CREDENTIALS, lambda request, body: (400, {"__type": "AccessDeniedException", "message": "not\nallowed"}),
     "--live-prices: the AWS Pricing API refused: AccessDeniedException: not allowed; check"),
    (CREDENTIALS, lambda request, body: (200, "{not json"),
     "--live-prices: the AWS Pricing API answered in an unexpected shape"),
    (CREDENTIALS, lambda request, body: (200, {"PriceList": ["{}"]}),
     "--live-prices: the AWS Pricing API answered in an unexpected shape ('product')"),
])
def test_aws_lookup_failures_are_one_line(server: Server, env: dict[str, str], answer: Answer, expected: str):
    server.answer = answer
    result = invoke_plan("--stack", "hpc-dev", "--live-prices", env={**env, "AWS_ENDPOINT_URL_PRICING": server.url})
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    output = (result.stdout + result.stderr).strip()
    assert expected in output and output.endswith("or drop --live-prices for the offline table")
    assert len(output.splitlines()) == 1, output
    assert bool(server.requests) == bool(env)  # without credentials nothing is sent


def test_aws_lookup_without_network_is_one_line(server: Server):
    url = server.url
    server.httpd.shutdown()
    server.httpd.server_close()
    result = invoke_plan("--stack", "hpc-dev", "--live-prices", env={**CREDENTIALS, "AWS_ENDPOINT_URL_PRICING": url})
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 1 and len(output.splitlines()) == 1, output
    assert output.startswith("error: --live-prices: cannot reach the AWS Pricing API (Could not connect to the "
                             f"endpoint URL: \"{url}/\"); check this machine's network")
