"""The CAs an EFS TLS tunnel trusts by default: Debian's copies of exactly the roots amazon-efs-utils ships in its
efs-utils.crt (Amazon Root CA 1-4), so a node trusts what efs-utils would, and no other public CA."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

DEFAULTS = Path(__file__).resolve().parents[2] / "ansible" / "roles" / "storage" / "defaults" / "main.yml"


def test_the_default_cas_are_debians_amazon_root_cas_1_to_4() -> None:
    paths = [Path(path) for path in yaml.safe_load(DEFAULTS.read_text())["storage_efs_tls_ca_certs"]]
    subjects = [subprocess.run(["openssl", "x509", "-noout", "-subject", "-in", str(path)],
                               capture_output=True, text=True, check=True).stdout.strip() for path in paths]
    assert subjects == [f"subject=C = US, O = Amazon, CN = Amazon Root CA {n}" for n in range(1, 5)]
