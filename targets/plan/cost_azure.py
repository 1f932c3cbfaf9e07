"""What a planned Azure program costs per hour while it runs, from the resources' inputs (camelCase wire
names): VMs and scale sets (size × capacity) with their OS disks, managed disks (Premium and Standard SSD by
size tier, Premium SSD v2 by GiB, IOPS and throughput above the free ones), premium (provisioned) Azure Files
shares, Standard public IPs, NAT gateways, container groups running all the time, and HDInsight clusters
(each role's nodes: VM + HDInsight fee).

Per-use charges (NAT data processed, Log Analytics ingestion, SSD transactions) are named in notes, not
estimated. Sizes, tiers or account kinds the table lacks give lines without a price, listed as unpriced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from targets.plan.cost import Cost, CostLine, as_list, as_map
from targets.plan.mock_run import PlannedResource
from targets.plan.prices import AzurePrices

SECONDS_PER_HOUR = 3600
TIERED = {"Premium_LRS": "premium_ssd_month", "StandardSSD_LRS": "standard_ssd_month"}


def _number(value: Any, default: float = 0) -> float:
    return default if value is None or isinstance(value, str) else float(value)


def _tag_count(value: Any) -> int:
    """A whole number a tag holds (tags are text), 0 when it holds none."""
    return int(value) if isinstance(value, str) and value.isdigit() else 0


class _AzurePricer:
    def __init__(self, resources: list[PlannedResource], prices: AzurePrices) -> None:
        self.prices = prices
        # a share names its account by the account's Azure name
        self.accounts = {str(r.inputs.get("accountName", r.name)): r for r in resources
                         if r.type == "azure-native:storage:StorageAccount"}
        self.handlers: dict[str, Callable[[PlannedResource], list[CostLine]]] = {
            "azure-native:compute:VirtualMachine": self._vm,
            "azure-native:compute:VirtualMachineScaleSet": self._scale_set,
            "azure-native:compute:Disk": self._disk,
            "azure-native:storage:FileShare": self._file_share,
            "azure-native:network:PublicIPAddress": self._public_ip,
            "azure-native:network:NatGateway": self._nat_gateway,
            "azure-native:containerinstance:ContainerGroup": self._container_group,
            "azure-native:hdinsight:Cluster": self._hdinsight,
            "azure-native:operationalinsights:Workspace": self._log_analytics,
        }

    def price(self, resource: PlannedResource) -> list[CostLine]:
        handler = self.handlers.get(resource.type)
        return handler(resource) if handler else []

    def _line(self, r: PlannedResource, item: str, quantity: float, unit: str, rate: float | None,
              per_hour: float | None, *entries: str, note: str = "") -> CostLine:
        """A line whose note says when the rate is approximate (``entries`` name the table entries used)."""
        notes = [text for text in (note, self.prices.note(*entries)) if text]
        return CostLine(r.name, r.type, item, quantity, unit, rate, per_hour, "; ".join(notes))

    def vms(self, r: PlannedResource, size: Any, count: int, what: str) -> CostLine:
        rate = self.prices.vm_hour.get(str(size))
        item = f"{size or 'unknown size'} pay-as-you-go{what}"
        if rate is None:
            return CostLine(r.name, r.type, item, count, "VM-hour", None, None,
                            f"no offline price for {size} in {self.prices.region}: not priced")
        return self._line(r, item, count, "VM-hour", rate, rate * count, str(size), "vm_hour")

    def managed_disk(self, r: PlannedResource, sku: Any, size_gb: Any, count: int, what: str,
                     iops: Any = None, mbps: Any = None) -> list[CostLine]:
        """A managed disk of ``sku`` and ``size_gb`` × count: tiered SKUs by the smallest tier holding it,
        Premium SSD v2 per GiB plus IOPS and MB/s above the free ones."""
        per_hour, each = 1 / self.prices.hours_per_month, " each" if count != 1 else ""
        if size_gb is None:
            return [CostLine(r.name, r.type, f"{sku} {what}", count, "disk-month", None, None,
                             "size comes from the image: not priced")]
        size = _number(size_gb)
        if sku == "PremiumV2_LRS":
            return self._premium_v2(r, size, count, what, _number(iops), _number(mbps))
        field = TIERED.get(str(sku))
        tiers = getattr(self.prices, field) if field else {}
        tier = min((gib for gib in tiers if gib >= size), default=None)
        item = f"{sku} {what}, {size:g} GiB{each}"
        if tier is None:
            return [CostLine(r.name, r.type, item, count, "disk-month", None, None,
                             f"no offline price for {sku} disks of {size:g} GiB: not priced")]
        rate = tiers[tier]
        note = f"billed as the {tier} GiB tier" + ("; transactions not estimated" if sku == "StandardSSD_LRS" else "")
        return [self._line(r, item, count, "disk-month", rate, rate * count * per_hour, field, note=note)]

    def _premium_v2(self, r: PlannedResource, size: float, count: int, what: str, iops: float,
                    mbps: float) -> list[CostLine]:
        p, per_hour = self.prices, 1 / self.prices.hours_per_month
        lines = [self._line(r, f"PremiumV2_LRS {what}, {size:g} GiB", size * count, "GiB-month",
                            p.premium_v2_gib_month, p.premium_v2_gib_month * size * count * per_hour,
                            "premium_v2_gib_month")]
        if iops > p.premium_v2_free_iops:
            extra = (iops - p.premium_v2_free_iops) * count
            lines.append(self._line(r, f"PremiumV2_LRS IOPS above {p.premium_v2_free_iops:g}", extra, "IOPS-month",
                                    p.premium_v2_iops_month, p.premium_v2_iops_month * extra * per_hour,
                                    "premium_v2_iops_month"))
        if mbps > p.premium_v2_free_mbps:
            extra = (mbps - p.premium_v2_free_mbps) * count
            lines.append(self._line(r, f"PremiumV2_LRS throughput above {p.premium_v2_free_mbps:g} MB/s", extra,
                                    "MBps-month", p.premium_v2_mbps_month,
                                    p.premium_v2_mbps_month * extra * per_hour, "premium_v2_mbps_month"))
        return lines

    def os_disk(self, r: PlannedResource, storage_profile: Any, count: int) -> list[CostLine]:
        disk = as_map(as_map(storage_profile).get("osDisk"))
        if not disk:
            return []
        sku = as_map(disk.get("managedDisk")).get("storageAccountType") or "Premium_LRS"
        return self.managed_disk(r, sku, disk.get("diskSizeGB"), count, "OS disk" + (f" × {count}" if count != 1
                                                                                     else ""))

    def _vm(self, r: PlannedResource) -> list[CostLine]:
        size = as_map(r.inputs.get("hardwareProfile")).get("vmSize")
        return [self.vms(r, size, 1, ""), *self.os_disk(r, r.inputs.get("storageProfile"), 1)]

    def _scale_set(self, r: PlannedResource) -> list[CostLine]:
        tags = as_map(r.inputs.get("tags"))
        if "chpc:min" in tags:
            return self._partition(r, tags)
        sku = as_map(r.inputs.get("sku"))
        count = int(_number(sku.get("capacity")))
        profile = as_map(r.inputs.get("virtualMachineProfile"))
        return [self.vms(r, sku.get("name"), count, f" × {count} (scale set capacity)"),
                *self.os_disk(r, profile.get("storageProfile"), count)]

    def _partition(self, r: PlannedResource, tags: dict[str, Any]) -> list[CostLine]:
        """A Slurm partition's Flexible scale set (tagged with its min, max, size and OS disk): its always-on VMs,
        which the head creates as it boots; the others run only while work waits for them, so they are named, not
        priced."""
        low, high = _tag_count(tags.get("chpc:min")), _tag_count(tags.get("chpc:max"))
        grows = f": up to {high} while jobs wait" if high > low else ""
        what = f" × {low} always on (partition {tags.get('chpc:partition')}{grows})"
        return [self.vms(r, tags.get("chpc:vm-size"), low, what),
                *self.managed_disk(r, tags.get("chpc:os-disk-type"), _tag_count(tags.get("chpc:os-disk-gb")), low,
                                   f"OS disk × {low}")]

    def _disk(self, r: PlannedResource) -> list[CostLine]:
        return self.managed_disk(r, as_map(r.inputs.get("sku")).get("name") or "Standard_LRS",
                                 r.inputs.get("diskSizeGB"), 1, "disk", r.inputs.get("diskIOPSReadWrite"),
                                 r.inputs.get("diskMBpsReadWrite"))

    def _file_share(self, r: PlannedResource) -> list[CostLine]:
        account = self.accounts.get(str(r.inputs.get("accountName")))
        quota = _number(r.inputs.get("shareQuota"))
        item = f"Azure Files share, {quota:g} GiB provisioned"
        premium = account is not None and str(as_map(account.inputs.get("sku")).get("name", "")).startswith("Premium")
        if not premium:
            return [CostLine(r.name, r.type, item, quota, "GiB-month", None, None,
                             "standard shares are billed per GiB stored and per transaction: not priced")]
        rate = self.prices.files_premium_gib_month
        return [self._line(r, f"premium {item}", quota, "GiB-month", rate, rate * quota / self.prices.hours_per_month,
                           "files_premium_gib_month")]

    def _public_ip(self, r: PlannedResource) -> list[CostLine]:
        rate = self.prices.public_ip_hour
        return [self._line(r, f"{as_map(r.inputs.get('sku')).get('name', 'Basic')} public IP address", 1,
                           "address-hour", rate, rate, "public_ip_hour")]

    def _nat_gateway(self, r: PlannedResource) -> list[CostLine]:
        rate = self.prices.nat_gateway_hour
        return [self._line(r, "NAT gateway", 1, "gateway-hour", rate, rate, "nat_gateway_hour",
                           note=f"plus ${self.prices.nat_gateway_gb}/GB processed, not estimated")]

    def _container_group(self, r: PlannedResource) -> list[CostLine]:
        requests = [as_map(as_map(as_map(container).get("resources")).get("requests"))
                    for container in as_list(r.inputs.get("containers"))]
        vcpu = sum(_number(request.get("cpu")) for request in requests)
        memory = sum(_number(request.get("memoryInGB")) for request in requests)
        rate = (vcpu * self.prices.aci_vcpu_second + memory * self.prices.aci_gb_second) * SECONDS_PER_HOUR
        return [self._line(r, f"container group ({vcpu:g} vCPU, {memory:g} GB), running all the time", 1,
                           "group-hour", rate, rate, "aci_vcpu_second", "aci_gb_second",
                           note="Linux rates; a group that stops is billed only while it runs")]

    def _hdinsight(self, r: PlannedResource) -> list[CostLine]:
        roles = as_list(as_map(as_map(r.inputs.get("properties")).get("computeProfile")).get("roles"))
        lines = []
        for role in map(as_map, roles):
            count = int(_number(role.get("targetInstanceCount"), 1))
            size = as_map(role.get("hardwareProfile")).get("vmSize")
            name = role.get("name", "role")
            lines.append(self.vms(r, size, count, f" × {count} (HDInsight {name})"))
            fee = self.prices.hdinsight_node_hour.get(str(size))
            item = f"HDInsight fee, {size} × {count} ({name})"
            lines.append(CostLine(r.name, r.type, item, count, "node-hour", None, None,
                                  f"no offline HDInsight fee for {size}: not priced") if fee is None else
                         self._line(r, item, count, "node-hour", fee, fee * count, "hdinsight_node_hour"))
        return lines

    def _log_analytics(self, r: PlannedResource) -> list[CostLine]:
        rate = self.prices.log_analytics_gb
        return [self._line(r, "Log Analytics ingestion", 0, "GB", rate, 0.0, "log_analytics_gb",
                           note=f"usage-based: ${rate}/GB ingested, not estimated")]


def estimate_azure(resources: Iterable[PlannedResource], prices: AzurePrices) -> Cost:
    """Cost lines of every priced Azure resource, in plan order."""
    planned = list(resources)
    pricer = _AzurePricer(planned, prices)
    return Cost([line for resource in planned if resource.custom for line in pricer.price(resource)], prices.source,
                prices.hours_per_month)
