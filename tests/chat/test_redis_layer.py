"""The Redis channel layer keeps an idle live socket alive (production settings, on Redis only).

channels_redis waits for messages with a 5 s blocking pop; redis-py 8 gives sockets a 5 s read
timeout by default, so with it an idle consumer's receive fails with
"Timeout reading" after 5 s and takes the live socket down (seen in the 120 s resume test);
the settings turn the read timeout off for the layer.
"""

import asyncio

import pytest
from channels.layers import get_channel_layer
from django.conf import settings

from tests.chat.support import connect, live_room
from tests.support.live_loop import run

pytestmark = [
    pytest.mark.usefixtures("fresh_loop_state"),
    pytest.mark.skipif(not settings.REDIS_URL, reason="the Redis channel layer (REDIS_URL)"),
]


def test_an_idle_receive_outlasts_the_blocking_pop():
    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        with pytest.raises(asyncio.TimeoutError):  # ours, not redis-py's "Timeout reading"
            await asyncio.wait_for(layer.receive(channel), 6.5)

    run(scenario())


def test_a_live_socket_idle_for_longer_than_the_pop_still_answers():
    room = live_room(guests=1)

    async def scenario():
        guest = await connect(room.session, room.guest)
        await asyncio.sleep(6.5)
        await guest.send(type="ping", client_time=1)
        assert (await guest.expect("pong"))["client_time"] == 1
        await guest.close()

    run(scenario())
