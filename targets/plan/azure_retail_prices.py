"""Today's Linux pay-as-you-go VM prices from the Azure Retail Prices API (``--live-prices`` on Azure): a public,
unauthenticated GET with an OData ``$filter``, answered in pages of ``Items`` linked by ``NextPageLink``.

Only the VM sizes are asked: disks, files, addresses and the rest stay the offline table's. A failure (no
network, an error status, an answer not in the documented shape) is one :class:`PriceError` line."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from targets.plan.prices import PriceError

RETAIL_PRICES_URL = "https://prices.azure.com/api/retail/prices"
TIMEOUT_S = 30
MAX_PAGES = 50  # a filter on a few sizes in one region answers in one or two pages
DROP = ("Windows", "Spot", "Low Priority")  # other products and meters of the same size
OFFLINE = "or drop --live-prices for the offline table"


def vm_filter(region: str, sizes: Iterable[str]) -> str:
    """The OData filter for the consumption (pay-as-you-go) meters of ``sizes`` in ``region``."""
    names = " or ".join(f"armSkuName eq '{size}'" for size in sorted(set(sizes)))
    return (f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' and priceType eq 'Consumption' "
            f"and ({names})")


def fetch_vm_prices(region: str, sizes: Iterable[str], base_url: str = RETAIL_PRICES_URL) -> dict[str, float]:
    """VM size -> USD per hour, Linux pay-as-you-go, for the ``sizes`` the API prices in ``region``.

    ``base_url`` is the API's; tests point it at a local server."""
    wanted = set(sizes)
    if not wanted:
        return {}
    query = urllib.parse.urlencode({"$filter": vm_filter(region, wanted)}, quote_via=urllib.parse.quote, safe="$'")
    return parse_vm_items(_items(f"{base_url}?{query}", base_url), wanted)


def parse_vm_items(items: Iterable[Mapping[str, Any]], sizes: set[str]) -> dict[str, float]:
    """The hourly USD consumption price of each size among ``items``, leaving out Windows, Spot and Low Priority
    meters (the cheapest left when several remain)."""
    prices: dict[str, float] = {}
    for item in items:
        size = item.get("armSkuName")
        names = f"{item.get('productName', '')} {item.get('skuName', '')} {item.get('meterName', '')}"
        if (size not in sizes or item.get("type") != "Consumption" or item.get("unitOfMeasure") != "1 Hour"
                or item.get("currencyCode") != "USD" or any(word in names for word in DROP)):
            continue
        price = item.get("retailPrice")
        if not isinstance(price, (int, float)) or isinstance(price, bool) or price <= 0:
            raise PriceError(f"--live-prices: the Azure Retail Prices API answered {size} with retailPrice "
                             f"{price!r}, not a price; try again later {OFFLINE}")
        prices[str(size)] = min(float(price), prices.get(str(size), float(price)))
    return prices


def _items(url: str, base_url: str) -> Iterator[Mapping[str, Any]]:
    """Every item of every page, following ``NextPageLink`` only to the API's own address."""
    origin = urllib.parse.urlsplit(base_url)[:2]
    for _ in range(MAX_PAGES):
        page = _page(url)
        items, next_link = page.get("Items"), page.get("NextPageLink")
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise PriceError(f"--live-prices: the Azure Retail Prices API answered without a list of Items ({url}); "
                             f"try again later {OFFLINE}")
        yield from items
        if not next_link:
            return
        if not isinstance(next_link, str) or urllib.parse.urlsplit(next_link)[:2] != origin:
            raise PriceError(f"--live-prices: the Azure Retail Prices API's NextPageLink {next_link!r} leaves "
                             f"{base_url}; not followed: try again later {OFFLINE}")
        url = next_link
    raise PriceError(f"--live-prices: the Azure Retail Prices API gave more than {MAX_PAGES} pages for a few VM "
                     f"sizes; not followed further: try again later {OFFLINE}")


def _page(url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        raise PriceError(f"--live-prices: the Azure Retail Prices API answered HTTP {error.code} {error.reason}; "
                         f"try again later {OFFLINE}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise PriceError(f"--live-prices: cannot reach the Azure Retail Prices API ({reason}); check this "
                         f"machine's network {OFFLINE}") from None
    try:
        page = json.loads(body)
    except ValueError:
        raise PriceError(f"--live-prices: the Azure Retail Prices API answered something that is not JSON; try "
                         f"again later {OFFLINE}") from None
    if not isinstance(page, dict):
        raise PriceError(f"--live-prices: the Azure Retail Prices API answered a JSON {type(page).__name__}, not "
                         f"an object; try again later {OFFLINE}")
    return page
