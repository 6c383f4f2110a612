from collections.abc import Iterator

import pytest
from channels.layers import channel_layers

from chat import fanout
from streaming import registry
from streaming.sfu import SfuConfig, SfuRegistry


@pytest.fixture
def fresh_loop_state(transactional_db: None) -> Iterator[None]:
    """Each asyncio.run is a new event loop: a new SFU registry (loopback only), channel layer and hub."""
    registry.reset_registry(SfuRegistry(SfuConfig(host_addresses=("127.0.0.3",))))
    channel_layers.backends = {}
    fanout._hub = None
    yield
    registry.reset_registry(None)
    channel_layers.backends = {}
    fanout._hub = None
