"""What a planned AWS program costs per hour while it runs: compute (the head instance, the compute fleet as
launch template × Auto Scaling capacity, Fargate tasks, EMR nodes' EC2 part: primary and core as groups or
fleets, task groups and fleets), EBS volumes by size and type, NAT gateways, public IPv4 addresses, and EFS
(priced per GB stored, of which a new file system has none). ``cost_azure`` prices Azure programs into the
same :class:`Cost`.

Per-use charges (data processed by NAT, EFS storage, requests) are named in notes, not estimated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from targets.plan.mock_run import PlannedResource
from targets.plan.prices import RegionPrices

GP3_FREE_IOPS, GP3_FREE_MIBPS = 3000, 125


@dataclass(frozen=True)
class CostLine:
    resource: str
    type: str
    item: str  # what is billed, e.g. "c5n.18xlarge on-demand"
    quantity: float
    unit: str  # what one unit_usd buys, e.g. "instance-hour", "GB-month"
    unit_usd: float | None  # None: no price known (see note)
    per_hour_usd: float | None
    note: str = ""

    @property
    def per_day_usd(self) -> float | None:
        return None if self.per_hour_usd is None else self.per_hour_usd * 24

    def as_json(self) -> dict[str, Any]:
        return {"resource": self.resource, "type": self.type, "item": self.item, "quantity": self.quantity,
                "unit": self.unit, "unit_usd": self.unit_usd, "per_hour_usd": _round(self.per_hour_usd),
                "per_day_usd": _round(self.per_day_usd), "note": self.note}


@dataclass(frozen=True)
class Cost:
    lines: list[CostLine]
    source: str  # where the prices come from, with the table's date
    hours_per_month: float

    @property
    def per_hour_usd(self) -> float:
        """The priced lines; :attr:`unpriced` lists what is left out."""
        return sum(line.per_hour_usd for line in self.lines if line.per_hour_usd is not None)

    @property
    def per_day_usd(self) -> float:
        return self.per_hour_usd * 24

    @property
    def per_month_usd(self) -> float:
        """Running all month (the price tables' ``hours_per_month``, 730)."""
        return self.per_hour_usd * self.hours_per_month

    @property
    def unpriced(self) -> list[CostLine]:
        return [line for line in self.lines if line.per_hour_usd is None]

    def as_json(self) -> dict[str, Any]:
        return {"per_hour_usd": _round(self.per_hour_usd), "per_day_usd": _round(self.per_day_usd),
                "per_month_usd": _round(self.per_month_usd), "hours_per_month": self.hours_per_month,
                "source": self.source, "lines": [line.as_json() for line in self.lines]}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _count(value: Any, default: int = 0) -> int:
    return default if value is None else int(float(value))


class _Pricer:
    def __init__(self, resources: list[PlannedResource], prices: RegionPrices) -> None:
        self.prices = prices
        self.by_id = {r.id: r for r in resources if r.custom}
        self.task_definitions = {r.name: r for r in resources if r.type == "aws:ecs/taskDefinition:TaskDefinition"}
        self.handlers = {
            "aws:ec2/instance:Instance": self._instance,
            "aws:autoscaling/group:Group": self._auto_scaling_group,
            "aws:ec2/launchTemplate:LaunchTemplate": self._partition,
            "aws:ebs/volume:Volume": lambda r: self.volume(r, r.inputs, 1, "volume"),
            "aws:ec2/natGateway:NatGateway": self._nat_gateway,
            "aws:ec2/eip:Eip": lambda r: [self.public_ipv4(r, 1)],
            "aws:efs/fileSystem:FileSystem": self._efs,
            "aws:ecs/service:Service": self._fargate_service,
            "aws:emr/cluster:Cluster": self._emr_cluster,
            "aws:emr/instanceGroup:InstanceGroup": lambda r: self._emr_nodes(r, r.inputs, "task group"),
            "aws:emr/instanceFleet:InstanceFleet": lambda r: self._emr_nodes(r, r.inputs, "task fleet"),
        }

    def instances(self, resource: PlannedResource, instance_type: str | None, count: int, what: str) -> CostLine:
        price = self.prices.instance_hour(instance_type or "")
        item = f"{instance_type or 'unknown type'} on-demand{what}"
        if price is None:
            return CostLine(resource.name, resource.type, item, count, "instance-hour", None, None,
                            f"no offline price for {instance_type} in {self.prices.region}; use --live-prices")
        return CostLine(resource.name, resource.type, item, count, "instance-hour", price, price * count)

    def volume(self, resource: PlannedResource, volume: Mapping[str, Any], count: int, what: str,
               default_type: str = "gp2") -> list[CostLine]:
        """One EBS volume (``size``/``volumeSize``, ``type``/``volumeType``, ``iops``, ``throughput``) × count."""
        size = volume.get("size", volume.get("volumeSize"))
        kind = volume.get("type", volume.get("volumeType")) or default_type
        if size is None:
            return [CostLine(resource.name, resource.type, what, count, "GB-month", None, None,
                             "size comes from the AMI or snapshot: not priced")]
        size, per_hour = float(size), 1 / self.prices.hours_per_month
        rate = self.prices.ebs_gb_month.get(kind)
        item = f"{kind} {what}, {size:g} GB" + (" each" if count != 1 else "")
        lines = [CostLine(resource.name, resource.type, item, size * count, "GB-month", rate,
                          None if rate is None else rate * size * count * per_hour,
                          "" if rate is not None else f"no offline price for EBS {kind}")]
        iops, throughput = float(volume.get("iops") or 0), float(volume.get("throughput") or 0)
        if kind == "gp3" and iops > GP3_FREE_IOPS:
            extra = (iops - GP3_FREE_IOPS) * count
            lines.append(CostLine(resource.name, resource.type, f"gp3 IOPS above {GP3_FREE_IOPS}", extra,
                                  "IOPS-month", self.prices.gp3_iops_month,
                                  self.prices.gp3_iops_month * extra * per_hour))
        if kind == "gp3" and throughput > GP3_FREE_MIBPS:
            extra = (throughput - GP3_FREE_MIBPS) * count
            lines.append(CostLine(resource.name, resource.type, f"gp3 throughput above {GP3_FREE_MIBPS} MiB/s",
                                  extra, "MiB/s-month", self.prices.gp3_throughput_mibps_month,
                                  self.prices.gp3_throughput_mibps_month * extra * per_hour))
        if kind in ("io1", "io2") and iops:
            lines.append(CostLine(resource.name, resource.type, f"{kind} provisioned IOPS", iops * count,
                                  "IOPS-month", self.prices.io_iops_month,
                                  self.prices.io_iops_month * iops * count * per_hour,
                                  "io2 above 32,000 IOPS is billed at lower tiers" if kind == "io2" else ""))
        return lines

    def public_ipv4(self, resource: PlannedResource, count: int) -> CostLine:
        rate = self.prices.public_ipv4_hour
        return CostLine(resource.name, resource.type, "public IPv4 address", count, "address-hour", rate,
                        rate * count)

    def price(self, resource: PlannedResource) -> list[CostLine]:
        handler = self.handlers.get(resource.type)
        return handler(resource) if handler else []

    def _instance(self, r: PlannedResource) -> list[CostLine]:
        template = self._template(as_map(r.inputs.get("launchTemplate")).get("id"))
        instance_type = r.inputs.get("instanceType") or (template and template.inputs.get("instanceType"))
        lines = [self.instances(r, instance_type, 1, "")]
        lines += self.volume(r, as_map(r.inputs.get("rootBlockDevice")), 1, "root volume")
        for device in as_list(r.inputs.get("ebsBlockDevices")):
            lines += self.volume(r, as_map(device), 1, f"volume {as_map(device).get('deviceName', '')}".rstrip())
        if r.inputs.get("associatePublicIpAddress") is True:
            lines.append(self.public_ipv4(r, 1))
        return lines

    def _auto_scaling_group(self, r: PlannedResource) -> list[CostLine]:
        capacity = _count(r.inputs.get("desiredCapacity"), _count(r.inputs.get("minSize")))
        mixed = as_map(as_map(r.inputs.get("mixedInstancesPolicy")).get("launchTemplate"))
        spec = as_map(r.inputs.get("launchTemplate")) or as_map(mixed.get("launchTemplateSpecification"))
        template = self._template(spec.get("id") or spec.get("launchTemplateId"))
        overrides = [as_map(o).get("instanceType") for o in as_list(mixed.get("overrides"))
                     if as_map(o).get("instanceType")]
        instance_type = overrides[0] if overrides else template and template.inputs.get("instanceType")
        lines = [self.instances(r, instance_type, capacity, f" × {capacity} (launch template × desired capacity)")]
        return lines + self._launched(r, template, capacity)

    def _partition(self, r: PlannedResource) -> list[CostLine]:
        """A Slurm partition's launch template (tagged with its min and max): its always-on nodes, which the head
        launches as it boots; the others run only while work waits for them, so they are named, not priced."""
        tags = as_map(r.inputs.get("tags"))
        if "chpc:min" not in tags:
            return []  # a scaling group's template: priced with its group
        low, high = _count(tags.get("chpc:min")), _count(tags.get("chpc:max"))
        grows = f": up to {high} while jobs wait" if high > low else ""
        what = f" × {low} always on (partition {tags.get('chpc:partition')}{grows})"
        return [self.instances(r, r.inputs.get("instanceType"), low, what), *self._launched(r, r, low)]

    def _launched(self, r: PlannedResource, template: PlannedResource | None, count: int) -> list[CostLine]:
        """What ``count`` instances from ``template`` cost besides their hours: volumes, public addresses."""
        lines: list[CostLine] = []
        for mapping in as_list(template.inputs.get("blockDeviceMappings")) if template else ():
            ebs = as_map(as_map(mapping).get("ebs"))
            if ebs:
                what = f"{as_map(mapping).get('deviceName', 'volume')} × {count}"
                lines += self.volume(r, ebs, count, what, default_type="gp3")
        interfaces = as_list(template.inputs.get("networkInterfaces")) if template else ()
        if any(str(as_map(i).get("associatePublicIpAddress")).lower() == "true" for i in interfaces):
            lines.append(self.public_ipv4(r, count))
        return lines

    def _nat_gateway(self, r: PlannedResource) -> list[CostLine]:
        rate = self.prices.nat_gateway_hour
        return [CostLine(r.name, r.type, "NAT gateway", 1, "gateway-hour", rate, rate,
                         f"plus ${self.prices.nat_gateway_gb}/GB processed, not estimated")]

    def _efs(self, r: PlannedResource) -> list[CostLine]:
        rate = self.prices.efs_standard_gb_month
        return [CostLine(r.name, r.type, "EFS standard storage, 0 GB stored", 0, "GB-month", rate, 0.0,
                         f"EFS billed per GB stored (${rate}/GB-month); a new file system stores 0 GB")]

    def _fargate_service(self, r: PlannedResource) -> list[CostLine]:
        strategies = [as_map(s).get("capacityProvider") for s in as_list(r.inputs.get("capacityProviderStrategies"))]
        if r.inputs.get("launchType") != "FARGATE" and not any(str(s).startswith("FARGATE") for s in strategies):
            return []  # tasks on EC2 instances are priced as those instances
        tasks = _count(r.inputs.get("desiredCount"), 1)
        definition = self._by_arn(r.inputs.get("taskDefinition"))
        if definition is None:
            return [CostLine(r.name, r.type, f"Fargate tasks × {tasks}", tasks, "task-hour", None, None,
                             "task definition not found in the plan")]
        vcpu = float(definition.inputs.get("cpu") or 0) / 1024
        memory_gb = float(definition.inputs.get("memory") or 0) / 1024
        rate = vcpu * self.prices.fargate_vcpu_hour + memory_gb * self.prices.fargate_gb_hour
        return [CostLine(r.name, r.type, f"Fargate task ({vcpu:g} vCPU, {memory_gb:g} GB) × {tasks}", tasks,
                         "task-hour", rate, rate * tasks)]

    def _emr_cluster(self, r: PlannedResource) -> list[CostLine]:
        lines = []
        for key, what in (("masterInstanceGroup", "primary group"), ("masterInstanceFleet", "primary fleet"),
                          ("coreInstanceGroup", "core group"), ("coreInstanceFleet", "core fleet")):
            if r.inputs.get(key):
                lines += self._emr_nodes(r, as_map(r.inputs[key]), what)
        return lines

    def _emr_nodes(self, r: PlannedResource, spec: Mapping[str, Any], what: str) -> list[CostLine]:
        """An instance group (``instanceType`` × ``instanceCount``) or fleet (its first instance type ×
        on-demand + spot target capacity, in units of that type's weighted capacity), at on-demand prices."""
        note = "EC2 part only: the EMR per-instance fee is not included"
        configs = [as_map(config) for config in as_list(spec.get("instanceTypeConfigs"))]
        if configs:
            units = _count(spec.get("targetOnDemandCapacity")) + _count(spec.get("targetSpotCapacity"))
            count = -(-units // max(_count(configs[0].get("weightedCapacity"), 1), 1))
            instance_type = configs[0].get("instanceType")
            if _count(spec.get("targetSpotCapacity")):
                note += "; spot capacity priced at on-demand (an upper bound)"
        else:
            count, instance_type = _count(spec.get("instanceCount"), 1), spec.get("instanceType")
            if spec.get("bidPrice"):
                note += "; spot nodes priced at on-demand (an upper bound)"
        line = self.instances(r, instance_type, count, f" × {count} (EMR {what})")
        return [CostLine(line.resource, line.type, line.item, line.quantity, line.unit, line.unit_usd,
                         line.per_hour_usd, line.note or note)]

    def _template(self, template_id: Any) -> PlannedResource | None:
        template = self.by_id.get(str(template_id))
        return template if template and template.type == "aws:ec2/launchTemplate:LaunchTemplate" else None

    def _by_arn(self, arn: Any) -> PlannedResource | None:
        name = str(arn).rsplit(":", 1)[-1]
        return self.task_definitions.get(name)


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def estimate(resources: Iterable[PlannedResource], prices: RegionPrices) -> Cost:
    """Cost lines of every priced resource, in plan order."""
    planned = list(resources)
    pricer = _Pricer(planned, prices)
    return Cost([line for resource in planned if resource.custom for line in pricer.price(resource)], prices.source,
                prices.hours_per_month)
