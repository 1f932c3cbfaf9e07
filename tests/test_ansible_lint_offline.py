"""ansible-lint as `make test` runs it (from ansible/, which holds its .ansible-lint) passes and reaches no network:
this machine may talk to loopback only, and `offline: true` is what keeps ansible-lint from Galaxy and from its own
release check. Traced with strace -f, since ansible-lint runs ansible-playbook and ansible-galaxy as processes of
their own, which an in-process hook would not see."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.root import need_root

ANSIBLE = Path(__file__).resolve().parents[1] / "ansible"
LINT = Path(sys.executable).with_name("ansible-lint")
STRACE = "/usr/bin/strace"
# the address of an IPv4 or IPv6 socket in strace's rendering of connect/sendto/sendmsg
ADDRESS = re.compile(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"')


def peers(trace: str) -> list[str]:
    """Every IP address a traced process connected or sent to, in the order it did."""
    return [v4 or v6 for v4, v6 in ADDRESS.findall(trace)]


def test_peers_reads_strace_renderings_of_both_families() -> None:
    trace = ('685 connect(3, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 0\n'
             '686 sendto(4, "x", 1, 0, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
             'inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}, 28) = 1\n'
             '687 connect(5, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT\n')
    assert peers(trace) == ["10.255.255.53", "2001:db8::1"]


def test_the_roles_pass_the_production_profile_without_reaching_the_network(tmp_path: Path) -> None:
    need_root("ansible-lint's network trace", STRACE)
    trace = tmp_path / "strace.txt"
    result = subprocess.run(
        [STRACE, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(trace), str(LINT), "--nocolor"],
        cwd=ANSIBLE, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PATH": f"{LINT.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Profile 'production' was required, and it passed." in result.stderr
    outside = [peer for peer in peers(trace.read_text()) if not ipaddress.ip_address(peer).is_loopback]
    assert outside == [], f"ansible-lint reached {outside}"
