"""Where the live room's cross-process state lives: the bus (one publish per room event) and the
small counters (reaction totals, rate windows, once-per-interval slots).

Two implementations behind one interface, chosen by the channel layer in settings:

* ``RedisBackend`` (channels_redis layer, production, several ASGI processes): one Redis
  ``PUBLISH`` per room event on ``<prefix><session_id>``, one subscriber connection per process and
  session; counters are Redis keys updated by small Lua scripts (atomic across processes).
* ``MemoryBackend`` (in-memory layer, the embedded default, one process): the same calls on dicts,
  delivered on the event loop.

``publish_threadsafe`` is the only call made from synchronous code (services after commit, the
admin): Redis through a blocking client; memory by handing the payload to the loop that serves the
sockets. Everything else runs on that loop.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import contextvars
import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import redis
import redis.asyncio as aredis
from django.conf import settings
from django.db import connections

from chat.rules import Rate
from italycouch.tasks import cancel_and_wait

__all__ = [
    "MemoryBackend",
    "RedisBackend",
    "RoomBackend",
    "Subscription",
    "key_prefix",
    "publish_sync",
    "redis_url",
]

logger = logging.getLogger(__name__)

# Counters outlive any tour by far, but not forever.
KEY_TTL_SECONDS = 2 * 24 * 3600
Handler = Callable[[str], None]


def redis_url() -> str | None:
    """The Redis of the channel layer, or None when the layer is in memory (embedded default)."""
    layer: dict[str, Any] = dict(settings.CHANNEL_LAYERS.get("default", {}))
    if "RedisChannelLayer" not in str(layer.get("BACKEND", "")) and "RedisPubSub" not in str(layer.get("BACKEND", "")):
        return None
    hosts = layer.get("CONFIG", {}).get("hosts") or []
    if not hosts:
        return None
    host = hosts[0]
    if isinstance(host, dict):
        host = host.get("address")
    if isinstance(host, list | tuple):  # ("localhost", 6379)
        return f"redis://{host[0]}:{host[1]}"
    return str(host) if host else None


def key_prefix(url: str | None) -> str:
    """A prefix naming this deployment's database: Redis pub/sub channels ignore the db number,
    so two sites (or two test runs) on one Redis server must not hear each other's rooms."""
    return _prefix(url, str(connections["default"].settings_dict.get("NAME", "")))


@functools.lru_cache(maxsize=16)
def _prefix(url: str | None, database: str) -> str:
    digest = hashlib.sha1(f"{url}|{database}".encode(), usedforsecurity=False).hexdigest()[:10]
    return f"ifc:room:{digest}:"


def publish_sync(url: str, session_id: int, payload: str) -> None:
    """One PUBLISH from synchronous code (a blocking client shared by the process's threads)."""
    _sync_client(url).publish(f"{key_prefix(url)}{session_id}", payload)


class Subscription(abc.ABC):
    @abc.abstractmethod
    async def close(self) -> None: ...

    @property
    @abc.abstractmethod
    def reconnected(self) -> asyncio.Event:
        """Set each time the subscription had to reconnect (events may have been missed)."""


class RoomBackend(abc.ABC):
    """The bus and counters of every live room this process serves (one per event loop)."""

    # -- bus ------------------------------------------------------------------------------------
    @abc.abstractmethod
    async def subscribe(self, session_id: int, handler: Handler) -> Subscription:
        """Call ``handler(payload)`` on the loop for every payload published to the session."""

    @abc.abstractmethod
    async def publish(self, session_id: int, payload: str) -> None: ...

    @abc.abstractmethod
    def publish_threadsafe(self, session_id: int, payload: str) -> None:
        """Publish from any thread (synchronous code after a commit)."""

    # -- counters -------------------------------------------------------------------------------
    @abc.abstractmethod
    async def add_reaction(self, session_id: int, user_id: int, emoji: str, rate: Rate) -> int:
        """Count one reaction unless the person is over ``rate``: 0, or seconds to wait."""

    @abc.abstractmethod
    async def take_reaction_batch(
        self, session_id: int, interval_ms: int
    ) -> tuple[dict[str, int], dict[str, int]] | None:
        """(counts since the last batch, totals) when something changed and no batch of this
        session was taken in the last ``interval_ms`` (by any process); else None."""

    @abc.abstractmethod
    async def reaction_totals(self, session_id: int) -> dict[str, int]: ...

    @abc.abstractmethod
    async def take_user_reactions(self, session_id: int) -> dict[int, int]:
        """Per person, reactions counted since the last call (then reset): for the stats rows."""

    @abc.abstractmethod
    async def hit(self, key: str, rate: Rate) -> int:
        """Count one hit on ``key``: 0 while within ``rate``, else whole seconds until the window ends."""

    @abc.abstractmethod
    async def acquire(self, key: str, interval_ms: int) -> bool:
        """True for the first caller in ``interval_ms`` (any process): a once-per-interval slot."""

    @abc.abstractmethod
    async def mark_dirty(self, session_id: int) -> None: ...

    @abc.abstractmethod
    async def take_dirty(self, session_id: int) -> bool: ...

    @abc.abstractmethod
    async def swap(self, key: str, value: str) -> str | None:
        """Set ``key`` and return its previous value (the last participant list digest sent)."""

    async def close(self) -> None:
        return None


# -- memory (embedded default: one process) -------------------------------------------------------


class _MemorySubscription(Subscription):
    def __init__(self, backend: MemoryBackend, session_id: int, handler: Handler) -> None:
        self._backend, self._session_id, self._handler = backend, session_id, handler
        self._reconnected = asyncio.Event()

    @property
    def reconnected(self) -> asyncio.Event:
        return self._reconnected

    async def close(self) -> None:
        handlers = self._backend._handlers.get(self._session_id)
        if handlers is not None and self._handler in handlers:
            handlers.remove(self._handler)
            if not handlers:
                del self._backend._handlers[self._session_id]


class MemoryBackend(RoomBackend):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._handlers: dict[int, list[Handler]] = {}
        self._totals: dict[int, dict[str, int]] = {}
        self._sent: dict[int, dict[str, int]] = {}
        self._users: dict[int, dict[int, int]] = {}
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (window end, hits)
        self._slots: dict[str, float] = {}  # key -> free again at
        self._dirty: set[int] = set()
        self._values: dict[str, str] = {}

    def _dispatch(self, session_id: int, payload: str) -> None:
        for handler in list(self._handlers.get(session_id, ())):
            try:
                handler(payload)
            except Exception:
                logger.exception("live room %s: a subscriber failed", session_id)

    async def subscribe(self, session_id: int, handler: Handler) -> Subscription:
        self._handlers.setdefault(session_id, []).append(handler)
        return _MemorySubscription(self, session_id, handler)

    async def publish(self, session_id: int, payload: str) -> None:
        # Deferred like a network hop: the publisher never runs the fan-out inside its own call.
        self._loop.call_soon(self._dispatch, session_id, payload, context=contextvars.Context())

    def publish_threadsafe(self, session_id: int, payload: str) -> None:
        if self._loop.is_closed():
            return
        # A fresh context: the caller's (a sync_to_async thread) would make the subscriber's own
        # database calls look nested in it to asgiref ("would deadlock").
        with contextlib.suppress(RuntimeError):  # the loop closed under us
            self._loop.call_soon_threadsafe(self._dispatch, session_id, payload, context=contextvars.Context())

    def _hit(self, key: str, rate: Rate) -> int:
        now = time.monotonic()
        end, hits = self._windows.get(key, (0.0, 0))
        if now >= end:
            end, hits = now + rate.window_seconds, 0
        hits += 1
        self._windows[key] = (end, hits)
        if len(self._windows) > 50_000:  # forget windows that are over
            self._windows = {k: v for k, v in self._windows.items() if v[0] > now}
        return 0 if hits <= rate.limit else max(1, int(end - now + 0.999))

    async def add_reaction(self, session_id: int, user_id: int, emoji: str, rate: Rate) -> int:
        wait = self._hit(f"react:{session_id}:{user_id}", rate)
        if wait:
            return wait
        totals = self._totals.setdefault(session_id, {})
        totals[emoji] = totals.get(emoji, 0) + 1
        users = self._users.setdefault(session_id, {})
        users[user_id] = users.get(user_id, 0) + 1
        return 0

    async def take_reaction_batch(
        self, session_id: int, interval_ms: int
    ) -> tuple[dict[str, int], dict[str, int]] | None:
        totals = self._totals.get(session_id, {})
        sent = self._sent.setdefault(session_id, {})
        counts = {emoji: total - sent.get(emoji, 0) for emoji, total in totals.items() if total != sent.get(emoji, 0)}
        if not counts or not await self.acquire(f"batch:{session_id}", interval_ms):
            return None
        sent.update(totals)
        return counts, dict(totals)

    async def reaction_totals(self, session_id: int) -> dict[str, int]:
        return dict(self._totals.get(session_id, {}))

    async def take_user_reactions(self, session_id: int) -> dict[int, int]:
        return self._users.pop(session_id, {})

    async def hit(self, key: str, rate: Rate) -> int:
        return self._hit(key, rate)

    async def acquire(self, key: str, interval_ms: int) -> bool:
        now = time.monotonic()
        if self._slots.get(key, 0.0) > now:
            return False
        self._slots[key] = now + interval_ms / 1000
        return True

    async def mark_dirty(self, session_id: int) -> None:
        self._dirty.add(session_id)

    async def take_dirty(self, session_id: int) -> bool:
        if session_id in self._dirty:
            self._dirty.discard(session_id)
            return True
        return False

    async def swap(self, key: str, value: str) -> str | None:
        previous = self._values.get(key)
        self._values[key] = value
        return previous


# -- Redis (production: several processes) -----------------------------------------------------------

# KEYS: rate window, totals hash, per-user hash. ARGV: limit, window ms, emoji, user id, ttl s.
_ADD_REACTION = """
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if hits > tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then ttl = tonumber(ARGV[2]) end
  return ttl
end
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
redis.call('EXPIRE', KEYS[3], ARGV[5])
return 0
"""

# KEYS: totals hash, sent hash, slot. ARGV: slot ms, ttl s. Returns {changed pairs, totals pairs}.
_TAKE_BATCH = """
local totals = redis.call('HGETALL', KEYS[1])
local changed = {}
for i = 1, #totals, 2 do
  local sent = tonumber(redis.call('HGET', KEYS[2], totals[i]) or '0')
  local now = tonumber(totals[i + 1])
  if now ~= sent then
    local delta = now - sent
    if delta < 0 then delta = now end
    table.insert(changed, totals[i])
    table.insert(changed, tostring(delta))
  end
end
if #changed == 0 then return false end
if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[1]) then return false end
for i = 1, #totals, 2 do redis.call('HSET', KEYS[2], totals[i], totals[i + 1]) end
redis.call('EXPIRE', KEYS[2], ARGV[2])
return {changed, totals}
"""

# KEYS: per-user hash. Returns its pairs and deletes it (atomically: no reaction counted twice).
_TAKE_USERS = """
local all = redis.call('HGETALL', KEYS[1])
if #all > 0 then redis.call('DEL', KEYS[1]) end
return all
"""

# KEYS: window key. ARGV: limit, window ms. Returns 0 or ms until the window ends.
_HIT = """
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if hits > tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then ttl = tonumber(ARGV[2]) end
  return ttl
end
return 0
"""

_sync_clients: dict[str, redis.Redis] = {}
_sync_lock = threading.Lock()


def _sync_client(url: str) -> redis.Redis:
    with _sync_lock:
        client = _sync_clients.get(url)
        if client is None:
            client = _sync_clients[url] = redis.Redis.from_url(url, health_check_interval=30)
        return client


def _pairs(flat: list[Any]) -> dict[str, int]:
    return {_text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _RedisSubscription(Subscription):
    """One connection subscribed to one session's channel, read by one task of this process."""

    def __init__(self, backend: RedisBackend, session_id: int, handler: Handler) -> None:
        self._backend, self._session_id, self._handler = backend, session_id, handler
        self._channel = backend.channel(session_id)
        self._reconnected = asyncio.Event()
        self._pubsub: aredis.client.PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closing = False

    @property
    def reconnected(self) -> asyncio.Event:
        return self._reconnected

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())
        # Return once subscribed: events published after this point reach the handler.
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def _run(self) -> None:
        first = True
        # Until closed: close cancels this task too, but a cancellation can be lost (italycouch/tasks.py).
        while not self._closing:
            pubsub = self._backend.pubsub_client.pubsub(ignore_subscribe_messages=True)
            self._pubsub = pubsub
            try:
                await pubsub.subscribe(self._channel)
                if first:
                    self._ready.set()
                    first = False
                else:
                    self._reconnected.set()
                while not self._closing:
                    message = await pubsub.get_message(timeout=None)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        self._handler(_text(message["data"]))
                    except Exception:
                        logger.exception("live room %s: a subscriber failed", self._session_id)
            except asyncio.CancelledError:
                raise
            except Exception as failure:
                logger.warning("live room %s: Redis subscription lost (%s); resubscribing", self._session_id, failure)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(pubsub.aclose())  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        await cancel_and_wait([task], owner=f"live room {self._session_id}: Redis subscription")


class RedisBackend(RoomBackend):
    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = key_prefix(url)
        # Commands wait for a free connection rather than fail under a burst (see the fan-out notes).
        self.client: aredis.Redis = aredis.Redis(
            connection_pool=aredis.BlockingConnectionPool.from_url(url, max_connections=50, timeout=10)
        )
        # Subscriptions hold their connection for as long as they live: their own, unbounded pool.
        self.pubsub_client: aredis.Redis = aredis.Redis.from_url(url)
        self._add_reaction = self.client.register_script(_ADD_REACTION)
        self._take_batch = self.client.register_script(_TAKE_BATCH)
        self._take_users = self.client.register_script(_TAKE_USERS)
        self._hit_script = self.client.register_script(_HIT)

    def channel(self, session_id: int) -> str:
        return f"{self.prefix}{session_id}"

    def _key(self, session_id: int | str, name: str) -> str:
        return f"{self.prefix}{session_id}:{name}"

    async def subscribe(self, session_id: int, handler: Handler) -> Subscription:
        subscription = _RedisSubscription(self, session_id, handler)
        await subscription.start()
        return subscription

    async def publish(self, session_id: int, payload: str) -> None:
        await self.client.publish(self.channel(session_id), payload)

    def publish_threadsafe(self, session_id: int, payload: str) -> None:
        _sync_client(self.url).publish(self.channel(session_id), payload)

    async def add_reaction(self, session_id: int, user_id: int, emoji: str, rate: Rate) -> int:
        keys = [
            self._key(session_id, f"react-rate:{user_id}"),
            self._key(session_id, "reactions"),
            self._key(session_id, "reactions-by-user"),
        ]
        args: list[str | int] = [rate.limit, rate.window_seconds * 1000, emoji, user_id, KEY_TTL_SECONDS]
        wait_ms = int(cast(int, await self._add_reaction(keys=keys, args=args)))
        return 0 if wait_ms <= 0 else max(1, -(-wait_ms // 1000))

    async def take_reaction_batch(
        self, session_id: int, interval_ms: int
    ) -> tuple[dict[str, int], dict[str, int]] | None:
        keys = [
            self._key(session_id, "reactions"),
            self._key(session_id, "reactions-sent"),
            self._key(session_id, "batch"),
        ]
        result = await self._take_batch(keys=keys, args=[interval_ms, KEY_TTL_SECONDS])
        if not result:
            return None
        changed, totals = result
        return _pairs(changed), _pairs(totals)

    async def reaction_totals(self, session_id: int) -> dict[str, int]:
        raw = await self.client.hgetall(self._key(session_id, "reactions"))
        return {_text(emoji): int(total) for emoji, total in raw.items()}

    async def take_user_reactions(self, session_id: int) -> dict[int, int]:
        flat = await self._take_users(keys=[self._key(session_id, "reactions-by-user")])
        return {int(user): count for user, count in _pairs(flat).items()}

    async def hit(self, key: str, rate: Rate) -> int:
        wait_ms = int(
            cast(
                int, await self._hit_script(keys=[f"{self.prefix}{key}"], args=[rate.limit, rate.window_seconds * 1000])
            )
        )
        return 0 if wait_ms <= 0 else max(1, -(-wait_ms // 1000))

    async def acquire(self, key: str, interval_ms: int) -> bool:
        return bool(await self.client.set(f"{self.prefix}{key}", "1", nx=True, px=interval_ms))

    async def mark_dirty(self, session_id: int) -> None:
        await self.client.set(self._key(session_id, "dirty"), "1", ex=KEY_TTL_SECONDS)

    async def take_dirty(self, session_id: int) -> bool:
        return await self.client.getdel(self._key(session_id, "dirty")) is not None

    async def swap(self, key: str, value: str) -> str | None:
        previous = await self.client.set(f"{self.prefix}{key}", value, get=True, ex=KEY_TTL_SECONDS)
        return None if previous is None else _text(previous)

    async def close(self) -> None:
        for client in (self.client, self.pubsub_client):
            with contextlib.suppress(Exception):
                await client.aclose()
