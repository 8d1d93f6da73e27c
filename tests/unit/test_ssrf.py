"""The SSRF guard on webhook targets, with a scripted resolver (no DNS needed)."""

from __future__ import annotations

import pytest

from workers.ssrf import TargetGuard, UnsafeTarget, guard_for, mask_credentials, parse_networks


def _resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("unknown host")
        return table[host]

    return resolve


HOSTS = {
    "public.example": ["93.184.216.34"],
    "rebound.example": ["93.184.216.34", "10.1.2.3"],
    "metadata.example": ["169.254.169.254"],
    "v6.example": ["2606:2800:220:1:248:1893:25c8:1946"],
}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://10.0.0.5/x",
        "http://192.168.1.1/x",
        "http://172.16.0.1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://[fe80::1]/x",
        "http://0.0.0.0/x",
        "http://100.64.0.1/x",
        "http://[2002:7f00:1::1]/x",  # 6to4 of 127.0.0.1
        "http://[2002:5db8:d822::1]/x",  # 6to4 of a public address: still a relay hop
        "http://[fec0::1]/x",  # site-local
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x",  # Teredo
        "http://rebound.example/x",
        "http://metadata.example/x",
        "http://nowhere.example/x",
        "ftp://public.example/x",
        "http://public.example:99999/x",
    ],
)
def test_internal_or_bad_targets_are_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget):
        TargetGuard(resolver=_resolver(HOSTS)).check_url(url)


def test_public_targets_pass() -> None:
    guard = TargetGuard(resolver=_resolver(HOSTS))
    assert guard.check_url("https://public.example/hook") == ["93.184.216.34"]
    assert guard.check_url("https://v6.example/hook")
    assert guard.check_url("http://8.8.8.8/x") == ["8.8.8.8"]


def test_operator_can_allow_networks_or_everything() -> None:
    loopback = TargetGuard(allowed_networks=parse_networks("127.0.0.0/8, ::1/128"))
    loopback.check_url("http://127.0.0.1:8080/x")
    loopback.check_url("http://[::1]:8080/x")
    with pytest.raises(UnsafeTarget):
        loopback.check_url("http://10.0.0.1/x")
    guard_for(True, "").check_url("http://10.0.0.1/x")
    with pytest.raises(ValueError):
        parse_networks("not-a-network")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pass@hooks.example/x?y=1", "https://***@hooks.example/x?y=1"),
        ("https://token@hooks.example:8443/x", "https://***@hooks.example:8443/x"),
        ("https://hooks.example/x", "https://hooks.example/x"),
    ],
)
def test_url_credentials_are_masked(url: str, shown: str) -> None:
    assert mask_credentials(url) == shown
