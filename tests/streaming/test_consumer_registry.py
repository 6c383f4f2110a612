"""The consumer's per-process SFU registry: built from settings, closable from another thread."""

from __future__ import annotations

import asyncio
from typing import Any

from streaming import registry
from streaming.sfu import SfuConfig, SfuRegistry


def test_an_empty_host_address_setting_means_every_interface_and_no_ice_servers(settings: Any) -> None:
    settings.SFU_HOST_ADDRESSES = ""
    settings.SFU_ICE_SERVERS = ""
    config = registry.config_from_settings()
    assert config.host_addresses is None
    assert config.ice_servers == ()


def test_addresses_and_ice_servers_come_from_comma_lists_or_lists(settings: Any) -> None:
    settings.SFU_HOST_ADDRESSES = " 127.0.0.3, 127.0.0.4 ,"
    settings.SFU_ICE_SERVERS = ["stun:stun.example:3478", "turn:turn.example:3478"]
    settings.SFU_ICE_USERNAME = "guide"
    settings.SFU_ICE_CREDENTIAL = "secret"
    config = registry.config_from_settings()
    assert config.host_addresses == ("127.0.0.3", "127.0.0.4")
    (server,) = config.ice_servers
    assert server.urls == ["stun:stun.example:3478", "turn:turn.example:3478"]
    assert (server.username, server.credential) == ("guide", "secret")


def test_one_registry_per_process_and_rooms_closed_from_another_thread() -> None:
    registry.reset_registry(SfuRegistry(SfuConfig(host_addresses=("127.0.0.3",))))
    try:

        async def scenario() -> None:
            shared = registry.get_registry()
            assert registry.get_registry() is shared
            shared.room("41")
            # The embedded scheduler runs tasks in a timer thread: it must not touch the loop's rooms.
            assert await asyncio.to_thread(registry.close_room_threadsafe, 41) is True
            assert shared.get("41") is None
            assert registry.close_room_threadsafe(41) is False

        asyncio.run(scenario())
    finally:
        registry.reset_registry(None)
