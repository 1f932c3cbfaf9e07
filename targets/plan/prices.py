"""What AWS charges, per region: a dated offline table (``prices_aws.json``, sources in its ``_source``),
and on request today's on-demand instance prices from the AWS Pricing API.

The Pricing API lives in us-east-1 whatever region is being priced. It answers with JSON documents as
strings (``PriceList``); :func:`parse_price_list` reads them, which is what the tests exercise with a
response recorded in the API's shape (moto has no Pricing API).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from targets.errors import TargetError

if TYPE_CHECKING:
    import boto3

PRICES = Path(__file__).with_name("prices_aws.json")
PRICING_API_REGION = "us-east-1"
LINUX_ON_DEMAND = {"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA",
                   "capacitystatus": "Used", "licenseModel": "No License required"}
AWS_OFFLINE = "or drop --live-prices for the offline table"


class PriceError(TargetError):
    """No price is known for what was asked; the message says how to get one."""


@dataclass(frozen=True)
class RegionPrices:
    """USD rates for one region; storage is quoted per month, so hourly figures divide by ``hours_per_month``."""

    region: str
    instances: Mapping[str, float]  # Linux on-demand, per hour
    ebs_gb_month: Mapping[str, float]  # per volume type
    gp3_iops_month: float  # per provisioned IOPS above 3,000
    gp3_throughput_mibps_month: float  # per MiB/s above 125
    io_iops_month: float  # io1/io2 per provisioned IOPS (io2's first tier, to 32,000)
    efs_standard_gb_month: float
    nat_gateway_hour: float
    nat_gateway_gb: float
    public_ipv4_hour: float
    fargate_vcpu_hour: float
    fargate_gb_hour: float
    hours_per_month: float
    source: str

    def instance_hour(self, instance_type: str) -> float | None:
        return self.instances.get(instance_type)

    def with_instances(self, prices: Mapping[str, float], source: str) -> RegionPrices:
        """These instance prices over the table's (``--live-prices``)."""
        return dataclasses.replace(self, instances={**self.instances, **prices}, source=f"{source}; {self.source}")


def _table(path: Path, region: str, what: str) -> dict[str, Any]:
    """A price table that has ``region``, or one line naming the regions it has and the file to extend."""
    data = json.loads(path.read_text())
    regions = data["regions"]
    if region not in regions:
        raise PriceError(f"no offline {what} {region} (the table has {', '.join(regions)}); price it in one of "
                         f"those or add it to targets/plan/{path.name}")
    return data


def load_prices(region: str, path: Path = PRICES) -> RegionPrices:
    data = _table(path, region, "prices for region")
    rates = data["regions"][region]
    return RegionPrices(region=region, hours_per_month=data["hours_per_month"],
                        source=f"offline table recorded {data['_source']['recorded']}", **rates)


def parse_price_list(price_list: Iterable[str]) -> dict[str, float]:
    """Instance type -> USD per hour from Pricing API ``get_products`` documents (on-demand terms only)."""
    prices: dict[str, float] = {}
    for document in price_list:
        product = json.loads(document)
        instance_type = product["product"]["attributes"].get("instanceType")
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dimension in term["priceDimensions"].values():
                usd = float(dimension["pricePerUnit"].get("USD", 0))
                if dimension.get("unit") == "Hrs" and usd > 0 and instance_type:
                    prices[instance_type] = usd
    return prices


def product_filters(region: str, instance_type: str) -> list[dict[str, str]]:
    """Exactly one product: Linux, shared tenancy, no preinstalled software, on-demand capacity."""
    fields = {"regionCode": region, "instanceType": instance_type, **LINUX_ON_DEMAND}
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in fields.items()]


def fetch_instance_prices(session: boto3.Session, region: str, instance_types: Iterable[str]) -> dict[str, float]:
    """Today's on-demand prices of ``instance_types`` in ``region`` (needs AWS credentials)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError
    from botocore.parsers import ResponseParserError

    prices: dict[str, float] = {}
    try:
        client = session.client("pricing", region_name=PRICING_API_REGION)
        for instance_type in sorted(set(instance_types)):
            documents: list[Any] = []
            for page in client.get_paginator("get_products").paginate(
                    ServiceCode="AmazonEC2", Filters=product_filters(region, instance_type)):
                documents += page["PriceList"]
            prices.update(parse_price_list(documents))
    except (NoCredentialsError, PartialCredentialsError):  # before BotoCoreError, whose subclasses they are
        raise PriceError(f"--live-prices: no AWS credentials for the AWS Pricing API; configure some (aws configure, "
                         f"AWS_PROFILE) {AWS_OFFLINE}") from None
    except ClientError as error:
        answer = error.response.get("Error", {})
        raise PriceError(f"--live-prices: the AWS Pricing API refused: {answer.get('Code', '?')}: "
                         f"{one_line(answer.get('Message', ''))}; check the credentials' pricing:GetProducts "
                         f"permission {AWS_OFFLINE}") from None
    except (KeyError, TypeError, ValueError, ResponseParserError) as error:
        raise PriceError(f"--live-prices: the AWS Pricing API answered in an unexpected shape "
                         f"({one_line(str(error))[:200]}); try again later {AWS_OFFLINE}") from None
    except BotoCoreError as error:
        raise PriceError(f"--live-prices: cannot reach the AWS Pricing API ({one_line(str(error))}); check this "
                         f"machine's network {AWS_OFFLINE}") from None
    return prices


def one_line(text: str) -> str:
    """A remote message on one line (an API may put newlines in it)."""
    return " ".join(text.split())


AZURE_PRICES = Path(__file__).with_name("prices_azure.json")


@dataclass(frozen=True)
class AzurePrices:
    """USD pay-as-you-go rates for one Azure region (``prices_azure.json``). Disks are billed by the smallest
    tier holding the disk (``*_ssd_month``: tier size in GiB -> USD per month). ``approximate`` names the
    entries (a field, or a VM size) that are not exact list prices; ``approximate_why`` says why."""

    region: str
    vm_hour: Mapping[str, float]
    premium_ssd_month: Mapping[int, float]
    standard_ssd_month: Mapping[int, float]
    premium_v2_gib_month: float
    premium_v2_iops_month: float  # per provisioned IOPS above the free ones
    premium_v2_mbps_month: float  # per provisioned MB/s above the free ones
    premium_v2_free_iops: float
    premium_v2_free_mbps: float
    files_premium_gib_month: float  # provisioned
    public_ip_hour: float
    nat_gateway_hour: float
    nat_gateway_gb: float
    aci_vcpu_second: float
    aci_gb_second: float
    log_analytics_gb: float
    hdinsight_node_hour: Mapping[str, float]  # HDInsight's fee per node, on top of the VM
    approximate: frozenset[str]
    approximate_why: str
    hours_per_month: float
    source: str

    def with_vms(self, prices: Mapping[str, float], source: str) -> AzurePrices:
        """These VM prices over the table's (``--live-prices``): exact list prices, no longer estimates."""
        return dataclasses.replace(self, vm_hour={**self.vm_hour, **prices}, source=f"{source}; {self.source}",
                                   approximate=self.approximate - set(prices) - {"vm_hour"})

    def note(self, *entries: str) -> str:
        """What to say on a line priced from ``entries``: nothing when exact, why not otherwise."""
        return f"approximate: {self.approximate_why}" if self.approximate & set(entries) else ""


def load_azure_prices(region: str, path: Path = AZURE_PRICES) -> AzurePrices:
    data = _table(path, region, "Azure prices for location")
    regions = data["regions"]
    rates = dict(regions[region])
    why = rates.pop("approximate_why", "")
    if "same_as" in rates:  # a region without figures of its own: every entry is approximate
        rates = {key: value for key, value in regions[rates.pop("same_as")].items() if key != "approximate_why"}
        rates["approximate"] = [key for key, value in rates.items() if not isinstance(value, list)]
    vm_hour = rates.pop("vm_hour")
    approximate = frozenset(rates.pop("approximate", [])) | frozenset(rates.pop("approximate_vm_sizes", []))
    if "vm_hour" in approximate:
        approximate |= frozenset(vm_hour)
    return AzurePrices(
        region=region, vm_hour=vm_hour, approximate=approximate, approximate_why=why,
        premium_ssd_month={int(size): usd for size, usd in rates.pop("premium_ssd_month").items()},
        standard_ssd_month={int(size): usd for size, usd in rates.pop("standard_ssd_month").items()},
        hours_per_month=data["hours_per_month"], source=f"offline Azure table as of {data['as_of']} ({region})",
        **rates)
