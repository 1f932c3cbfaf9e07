"""The rules of ``components.security`` as resource policies: errors block the deployment (mandatory),
warnings are reported (advisory). Two policies because an enforcement level belongs to a policy, not to a
violation; both run the same ``check_resource`` that ``invoke plan`` runs."""

from __future__ import annotations

from typing import Literal

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from components.security import check_resource


def _reporting(severity: Literal["error", "warning"]) -> ResourceValidation:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for finding in check_resource(args.resource_type, args.props, args.name):
            if finding.severity == severity:
                report_violation(finding.line(), None)

    return validate


security_errors = ResourceValidationPolicy(
    name="security-errors",
    description="IMDSv2 required, EBS/EFS encrypted at rest, no SSH from the world or a network broader than /8 "
                "(IPv6 /32) unless the spec opened it, "
                "no public S3 ACLs or disabled public access blocks, no plaintext secrets in task definitions",
    validate=_reporting("error"),
    enforcement_level=EnforcementLevel.MANDATORY,
)

security_warnings = ResourceValidationPolicy(
    name="security-warnings",
    description="Ingress open to the whole internet on ports other than SSH, SSH opened wide by the spec, "
                "NFS storage accounts without HTTPS-only",
    validate=_reporting("warning"),
    enforcement_level=EnforcementLevel.ADVISORY,
)

POLICIES = [security_errors, security_warnings]
