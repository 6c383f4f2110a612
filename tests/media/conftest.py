from __future__ import annotations

import aioice.ice
import pytest

from streaming.sfu import SfuConfig

CLIENT_ADDRESS = "127.0.0.2"  # test publishers and viewers (aioice never offers 127.0.0.1)
SFU_ADDRESS = "127.0.0.3"  # the SFU, through its injected configuration


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one network edge: every aiortc peer in these tests sees a single loopback address.

    This machine's eth0 is never offered; the SFU does not rely on this patch (its addresses
    come from SfuConfig, and test_candidates_are_loopback_only checks both).
    """
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: [CLIENT_ADDRESS])


@pytest.fixture
def sfu_config() -> SfuConfig:
    return SfuConfig(host_addresses=(SFU_ADDRESS,))
