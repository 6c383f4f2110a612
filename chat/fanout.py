"""The live room's fan-out: each process writes room events to its own sockets.

Measured here (shared/notes/realtime-fanout.md): Channels ``group_send`` to a 1,000-consumer
group holds under 2 messages/s; one Redis PUBLISH per message, fanned out per process to local
sockets, holds 40+. So:

* ``Hub`` (one per process and event loop) keeps a ``LocalRoom`` per session with local sockets.
* ``LocalRoom`` holds ONE bus subscription for its session (chat/backends.py). Envelopes that
  consumed a chat sequence number are delivered in sequence order; a gap (a publish lost or
  overtaken) is waited for briefly and then filled from the database, where every committed
  message is. What is delivered in one turn of the event loop is written out together at the end
  of it: one frame per socket (the event itself, or a JSON array of the events in order), built
  once and shared by every socket that gets all of it. Nothing waits on purpose, so a quiet room
  writes each event at once; in a busy one the events that arrived while the loop was writing
  share a write, and the cost per delivery falls as the rate rises (a write to a socket is a
  system call: most of a delivery's cost here).
* ``LocalSocket`` is written to directly in that one pass: under uvicorn the frame's bytes, built
  once for the room, go straight to the socket's transport (``italycouch.server_send.Wire``,
  docs/adr/0015); otherwise its send coroutine is stepped in place (the server's send does not
  suspend, so there is no task switch per delivery). A socket that
  cannot take a frame at once gets a task of its own and a bounded queue until it has caught up,
  so a slow client never holds up the loop or the others; it catches up a batch per frame. When
  its queue overflows it is emptied and the client gets a fresh ``room.snapshot`` of what it
  missed (by sequence number) instead of the dropped frames.
* A ticker per room and process sends reaction batches (at most one per 240 ms per session,
  across processes: the slot is a Redis key), the participant list and viewer count (at most
  once per second), flushes reaction stats to the database and refreshes presence rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from enum import Enum
from typing import Any

from chat import backends, realtime, rules, selectors, services
from chat.backends import MemoryBackend, RedisBackend, RoomBackend
from chat.protocol import dumps, event, frame_of
from chat.realtime import Envelope
from italycouch.live_db import live_db
from italycouch.server_send import text_frame
from italycouch.tasks import cancel_and_wait

__all__ = ["Hub", "LocalRoom", "LocalSocket", "close_hub", "get_hub"]

logger = logging.getLogger(__name__)

SnapshotBuilder = Callable[[int], Awaitable[tuple[str, int]]]


class SocketState(Enum):
    IDLE = "idle"  # connected, no room.join yet: room events are not queued
    JOINING = "joining"  # a snapshot is being built: events are queued, not sent
    LIVE = "live"


class LocalSocket:
    """One WebSocket of this process in a room: written to directly, queued only when it lags.

    The fan-out calls :meth:`push` for each socket of the room in one pass, with the events of
    that turn of the loop. A socket with nothing queued is written to at once: its send
    coroutine is stepped right there, and the server's send (Daphne's; uvicorn's unless the
    transport is paused) finishes without suspending, so a delivery costs no task switch. A send
    that does suspend (a client not reading, the transport's buffer full) is finished by a task
    of that socket, and until it is done the socket's later events wait in its bounded queue:
    the loop and the other sockets never wait. When the queue overflows it is emptied and the
    client gets a fresh ``room.snapshot`` of what it missed (by sequence number) instead of the
    dropped events.
    """

    queue_limit = 1000
    # Queued events written per frame while catching up.
    catch_up_batch = 50

    def __init__(
        self,
        *,
        session_id: int,
        user_id: int,
        moderator: bool,
        socket_id: str,
        send: Callable[[str], Coroutine[Any, Any, None]],
        snapshot: SnapshotBuilder,
        kick: Callable[[str, str], Awaitable[None]],
        wire: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.session_id = session_id
        self.user_id = user_id
        self.moderator = moderator
        self.socket_id = socket_id
        self.state = SocketState.IDLE
        # The highest chat seq this client has (sent live or covered by a snapshot).
        self.last_seq = 0
        self.overflows = 0
        self._send = send
        # Writes a whole frame from ``text_frame`` at once, or returns False (then ``send``).
        self._wire = wire
        self._snapshot = snapshot
        self._kick = kick
        self._frames: deque[tuple[str, int | None]] = deque()
        self._resync = False
        self._join_lock = asyncio.Lock()
        # The task finishing a suspended send and then the queue; None while the socket keeps up.
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    async def stop(self) -> None:
        self._closed = True
        self._frames.clear()
        writer, self._writer = self._writer, None
        await cancel_and_wait([writer], owner=f"live socket {self.socket_id}")

    def push(self, items: list[tuple[str, int | None]], text: str | None = None, framed: bytes | None = None) -> None:
        """Write room events now as one frame, or queue them behind a pending write (never
        blocks). ``items`` are (frame, seq) in order; ``text``, when given, is the one frame
        carrying all of them (``frame_of``) and ``framed`` the same as WebSocket bytes
        (``text_frame``), both built once for every socket that gets all of them. Overflow: drop
        the backlog and resync the client."""
        if self._closed or self.state is SocketState.IDLE:
            return
        if self.state is SocketState.JOINING or self._writer is not None or self._frames:
            for frame, seq in items:
                self._queue(frame, seq)  # joining: sent after the snapshot, unless it is in it
            return
        is_new = self._is_new
        fresh = [frame for frame, seq in items if is_new(seq)]
        if text is not None and len(fresh) == len(items):
            self._write_now(text, framed)
        elif fresh:
            self._write_now(frame_of(fresh))

    def _is_new(self, seq: int | None) -> bool:
        """Whether a frame is still to be sent (recording its seq as sent): False for a chat
        message the client has already, live or in a snapshot."""
        if seq is None:
            return True
        if seq <= self.last_seq:
            return False
        self.last_seq = seq
        return True

    def _queue(self, frame: str, seq: int | None) -> None:
        if len(self._frames) >= self.queue_limit:
            self._frames.clear()
            self.overflows += 1
            self._resync = True
            logger.info("live room %s: socket %s fell behind; resyncing it", self.session_id, self.socket_id)
        else:
            self._frames.append((frame, seq))

    def _write_now(self, frame: str, framed: bytes | None = None) -> None:
        """Write the frame's bytes straight to the transport when the server lets us (uvicorn:
        italycouch/server_send.py); else step the send coroutine, and if it suspends, a task of
        this socket finishes it."""
        if self._closed:
            return
        if self._wire is not None and self._wire(text_frame(frame) if framed is None else framed):
            return
        coroutine = self._send(frame)
        try:
            waiting_on = coroutine.send(None)
        except StopIteration:
            return  # written
        except Exception:
            self._broken()
            return
        self._writer = asyncio.ensure_future(self._catch_up(_Resumed(coroutine, waiting_on)))

    def _broken(self) -> None:
        logger.info("live room %s: socket %s cannot be written to", self.session_id, self.socket_id)
        self._closed = True
        self._frames.clear()

    def _flush(self) -> None:
        """Start writing what was queued (after a join), unless a writer is at it already."""
        if self._writer is None and (self._frames or self._resync) and not self._closed:
            self._writer = asyncio.ensure_future(self._catch_up(None))

    async def _catch_up(self, pending: Awaitable[None] | None) -> None:
        """Finish a suspended send, then write the queue out, resyncing after an overflow."""
        try:
            if pending is not None:
                await pending
            while not self._closed:
                if self._resync and self.state is SocketState.LIVE:
                    try:  # a snapshot after the last message sent replaces the dropped frames
                        await self.join(self.last_seq)
                    except Exception:
                        logger.exception("live room %s: resync of %s failed", self.session_id, self.socket_id)
                        self._resync = False
                    continue
                if not self._frames or self.state is not SocketState.LIVE:
                    break
                # What queued up goes out a batch at a time: a lagging client catches up in a
                # few writes, not one per event.
                fresh: list[str] = []
                while self._frames and len(fresh) < self.catch_up_batch:
                    frame, seq = self._frames.popleft()
                    if self._is_new(seq):
                        fresh.append(frame)
                if fresh:
                    await self._send(frame_of(fresh))
        except asyncio.CancelledError:
            raise
        except Exception:
            self._broken()
        finally:
            if self._writer is asyncio.current_task():
                self._writer = None

    async def join(self, after_seq: int) -> None:
        """room.join: a snapshot after ``after_seq``, then the live events not in it, in order."""
        async with self._join_lock:
            # A write in progress ends first: its writer sends the snapshot next.
            previous, self.state = self.state, SocketState.JOINING
            try:
                text, last_seq = await self._snapshot(after_seq)
            except BaseException:
                self.state = previous
                self._flush()
                raise
            self._frames.appendleft((text, None))
            self.last_seq = last_seq
            self._resync = False
            self.state = SocketState.LIVE
            self._flush()

    async def kick(self, code: str, message: str) -> None:
        await self._kick(code, message)


class _Resumed:
    """Awaiting this finishes a coroutine whose first step already ran and yielded ``waiting_on``
    (what an asyncio task does with a coroutine, taken up after its first step)."""

    __slots__ = ("_coroutine", "_waiting_on")

    def __init__(self, coroutine: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        self._coroutine = coroutine
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, None]:
        coroutine, waiting_on = self._coroutine, self._waiting_on
        while True:
            try:
                sent = yield waiting_on
            except BaseException as error:  # cancelled while waiting: pass it in
                try:
                    waiting_on = coroutine.throw(error)
                except StopIteration:
                    return
            else:
                try:
                    waiting_on = coroutine.send(sent)
                except StopIteration:
                    return


class LocalRoom:
    """One session's sockets in this process, its bus subscription and its ticker."""

    tick_seconds = 0.25
    # How long an envelope waits for a missing sequence number before it is read from the database.
    gap_wait_seconds = 1.0
    linger_seconds = 5.0
    reaction_flush_seconds = 5.0
    full_presence_seconds = 5.0

    def __init__(self, hub: Hub, session_id: int) -> None:
        self.hub = hub
        self.session_id = session_id
        self.sockets: set[LocalSocket] = set()
        self.next_seq = 1
        self.delivered = 0
        self.closing = False
        self.starting: asyncio.Future[None] | None = None
        self._started = False
        self._early: list[Envelope] = []
        self._pending: dict[int, Envelope] = {}
        self._held_back: list[Envelope] = []
        # Delivered in this turn of the event loop, written out together at the end of it.
        self._outgoing: list[Envelope] = []
        self._write_handle: asyncio.Handle | None = None
        self._gap_timer: asyncio.TimerHandle | None = None
        self._subscription: backends.Subscription | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()

    @property
    def backend(self) -> RoomBackend:
        return self.hub.backend

    async def start(self) -> None:
        self._subscription = await self.backend.subscribe(self.session_id, self.on_payload)
        # Read after subscribing: a message committed later is heard on the bus; one committed
        # earlier is covered by every socket's snapshot.
        top = await live_db(selectors.last_seq)(self.session_id)
        self.next_seq = top + 1
        self._started = True
        early, self._early = self._early, []
        for envelope in early:
            self._route(envelope)
        self._ticker = asyncio.ensure_future(self._tick_loop())

    async def close(self) -> None:
        self.closing = True
        if self._gap_timer is not None:
            self._gap_timer.cancel()
        if self._write_handle is not None:
            self._write_handle.cancel()
            self._write_handle = None
        await cancel_and_wait([self._ticker, *self._tasks], owner=f"live room {self.session_id}")
        if self._subscription is not None:
            await self._subscription.close()
        for socket in list(self.sockets):
            await socket.stop()
        self.sockets.clear()

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("live room %s: a task failed", self.session_id, exc_info=task.exception())

    # -- receiving from the bus ---------------------------------------------------------------------

    def on_payload(self, payload: str) -> None:
        try:
            envelope = realtime.decode(payload)
        except (ValueError, TypeError):
            logger.warning("live room %s: an undecodable envelope was dropped", self.session_id)
            return
        if not self._started:
            self._early.append(envelope)
            return
        self._route(envelope)

    def _route(self, envelope: Envelope) -> None:
        if envelope.kick is not None:
            self._kick(envelope.kick)
            return
        seq = envelope.seq
        if seq is None:
            if self._pending:
                self._held_back.append(envelope)  # keep its place behind the messages waited for
            else:
                self._deliver(envelope)
            return
        if seq < self.next_seq:
            self._deliver(envelope)  # late: sockets drop it if they have it already
            return
        if seq > self.next_seq:
            self._pending[seq] = envelope
            if self._gap_timer is None:
                self._gap_timer = asyncio.get_running_loop().call_later(self.gap_wait_seconds, self._gap_expired)
            return
        self._deliver(envelope)
        self.next_seq += 1
        self._drain()

    def _drain(self) -> None:
        while self.next_seq in self._pending:
            self._deliver(self._pending.pop(self.next_seq))
            self.next_seq += 1
        if not self._pending:
            if self._gap_timer is not None:
                self._gap_timer.cancel()
                self._gap_timer = None
            held, self._held_back = self._held_back, []
            for envelope in held:
                self._deliver(envelope)

    def _gap_expired(self) -> None:
        self._gap_timer = None
        self.spawn(self._fill_gap())

    async def _fill_gap(self) -> None:
        try:
            await self._read_gap()
        except Exception:
            logger.exception("live room %s: a gap could not be filled; skipping it", self.session_id)
            if self._pending:
                self.next_seq = max(self.next_seq, min(self._pending))
                self._drain()

    async def _read_gap(self) -> None:
        if not self._pending:
            return
        up_to = min(self._pending) - 1
        logger.info(
            "live room %s: seq %s..%s not heard on the bus; reading them", self.session_id, self.next_seq, up_to
        )
        rows = await live_db(selectors.sequenced_payloads)(self.session_id, after_seq=self.next_seq - 1, up_to=up_to)
        for seq, payload in rows:
            if seq >= self.next_seq:
                self._pending.setdefault(seq, realtime.decode(payload))
        if self._pending:
            # Numbers still missing belong to nothing committed and visible (a held message
            # approved under a new number, or rejected): skip them.
            self.next_seq = max(self.next_seq, min(self._pending))
            self._drain()
        if self._pending and self._gap_timer is None:
            self._gap_timer = asyncio.get_running_loop().call_later(self.gap_wait_seconds, self._gap_expired)

    async def catch_up(self) -> None:
        """After the subscription reconnected: read from the database what the bus may have lost."""
        rows = await live_db(selectors.sequenced_payloads)(self.session_id, after_seq=self.next_seq - 1)
        for _seq, payload in rows:
            self._route(realtime.decode(payload))

    def _deliver(self, envelope: Envelope) -> None:
        """Take an envelope, in order, for the next write to the sockets: everything delivered
        in one turn of the event loop goes out together (:meth:`_write_out`)."""
        if envelope.frame is None:
            return
        self._outgoing.append(envelope)
        if self._write_handle is None:
            self._write_handle = asyncio.get_running_loop().call_soon(self._write_out)

    def _write_out(self) -> None:
        """One frame per socket for everything delivered since the last write.

        Nothing waits on purpose: when the room is quiet that is one event, written at once.
        When it is busy, the events that arrived while the loop was writing the previous ones
        share one write (and one system call) per socket, so the cost per delivery falls as
        the rate rises instead of the loop falling behind (docs/performance.md, "Live room").
        """
        self._write_handle = None
        batch, self._outgoing = self._outgoing, []
        if not batch:
            return
        items = [(envelope.frame, envelope.seq) for envelope in batch if envelope.frame is not None]
        text = frame_of([frame for frame, _seq in items])
        framed = text_frame(text)
        everyone = all(envelope.audience == realtime.ALL and envelope.exclude is None for envelope in batch)
        count = 0
        for socket in self.sockets:
            if everyone:
                socket.push(items, text, framed)
                count += len(items)
                continue
            mine = [item for item, envelope in zip(items, batch, strict=True) if _reaches(envelope, socket)]
            if mine:
                if len(mine) == len(items):
                    socket.push(mine, text, framed)
                else:
                    socket.push(mine)
                count += len(mine)
        self.delivered += count

    def _kick(self, kick: dict[str, Any]) -> None:
        user_id = kick.get("user_id")
        for socket in list(self.sockets):
            if socket.user_id == user_id:
                self.spawn(socket.kick(str(kick.get("code", "banned")), str(kick.get("message", ""))))

    # -- the ticker ------------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        clock = time.monotonic
        next_presence = clock()
        next_full_presence = clock()
        next_flush = clock() + self.reaction_flush_seconds
        next_heartbeat = clock() + rules.HEARTBEAT_SECONDS
        while True:
            await asyncio.sleep(self.tick_seconds)
            # The room's close cancels this task too, but a cancellation lost in a call below
            # (italycouch/tasks.py) must not leave it ticking for a room that is gone.
            if self.closing:
                return
            now = clock()
            try:
                await self._reaction_batch()
                if self._subscription is not None and self._subscription.reconnected.is_set():
                    self._subscription.reconnected.clear()
                    await self.catch_up()
                if now >= next_presence:
                    next_presence = now + rules.PARTICIPANT_LIST_INTERVAL.total_seconds()
                    full = now >= next_full_presence
                    if full:
                        next_full_presence = now + self.full_presence_seconds
                    await self._presence(full=full)
                if now >= next_flush:
                    next_flush = now + self.reaction_flush_seconds
                    await self.flush_reactions()
                if now >= next_heartbeat:
                    next_heartbeat = now + rules.HEARTBEAT_SECONDS
                    socket_ids = [socket.socket_id for socket in self.sockets]
                    await live_db(services.heartbeat)(session_id=self.session_id, socket_ids=socket_ids)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("live room %s: tick failed", self.session_id)

    async def _reaction_batch(self) -> None:
        interval_ms = int(rules.REACTION_BATCH_INTERVAL.total_seconds() * 1000)
        batch = await self.backend.take_reaction_batch(self.session_id, interval_ms)
        if batch is not None:
            counts, totals = batch
            await self.backend.publish(
                self.session_id, realtime.encode(event("reaction.batch", counts=counts, totals=totals))
            )

    async def _presence(self, *, full: bool) -> None:
        interval_ms = int(rules.PARTICIPANT_LIST_INTERVAL.total_seconds() * 1000) - 100
        if not await self.backend.acquire(f"{self.session_id}:presence", interval_ms):
            return
        dirty = await self.backend.take_dirty(self.session_id)
        if not (dirty or full):
            return
        people, viewers = await live_db(selectors.participants)(self.session_id)
        frame = event("participant.list", participants=people, viewers=viewers)
        text = dumps(frame)
        digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
        if await self.backend.swap(f"{self.session_id}:participants", digest) != digest:
            await self.backend.publish(self.session_id, realtime.encode(frame, audience=realtime.MODERATORS))
        if await self.backend.swap(f"{self.session_id}:viewers", str(viewers)) != str(viewers):
            await self.backend.publish(self.session_id, realtime.encode(event("presence.count", viewers=viewers)))

    async def flush_reactions(self) -> None:
        per_user = await self.backend.take_user_reactions(self.session_id)
        if per_user:
            totals = await self.backend.reaction_totals(self.session_id)
            await live_db(services.record_reactions)(session_id=self.session_id, per_user=per_user, totals=totals)


def _reaches(envelope: Envelope, socket: LocalSocket) -> bool:
    """Whether an envelope's audience includes this socket."""
    audience = envelope.audience
    if audience == realtime.ALL:
        return socket.user_id != envelope.exclude
    return socket.user_id in envelope.users or (audience == realtime.MODERATORS and socket.moderator)


class Hub:
    """This process's live rooms (one hub per event loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, backend: RoomBackend) -> None:
        self.loop = loop
        self.backend = backend
        self.rooms: dict[int, LocalRoom] = {}
        self._linger: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Future[Any]] = set()

    async def attach(self, socket: LocalSocket) -> LocalRoom:
        """Add a socket to its session's room here, starting the room's subscription if needed."""
        session_id = socket.session_id
        linger = self._linger.pop(session_id, None)
        if linger is not None:
            linger.cancel()
        room = self.rooms.get(session_id)
        if room is None or room.closing:
            room = self.rooms[session_id] = LocalRoom(self, session_id)
            room.starting = asyncio.ensure_future(room.start())
        assert room.starting is not None
        try:
            await asyncio.shield(room.starting)
        except Exception:
            if self.rooms.get(session_id) is room and not room.sockets:
                del self.rooms[session_id]
                await room.close()
            raise
        room.sockets.add(socket)
        return room

    async def detach(self, socket: LocalSocket) -> None:
        await socket.stop()
        room = self.rooms.get(socket.session_id)
        if room is None or socket not in room.sockets:
            return
        room.sockets.discard(socket)
        if not room.sockets:
            # Kept a few seconds: a reconnecting client finds it subscribed and warm.
            self._linger[room.session_id] = self.loop.call_later(
                room.linger_seconds, self._close_if_empty, room.session_id
            )

    def _close_if_empty(self, session_id: int) -> None:
        self._linger.pop(session_id, None)
        room = self.rooms.get(session_id)
        if room is not None and not room.sockets:
            del self.rooms[session_id]
            task = asyncio.ensure_future(room.close())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def publish(self, session_id: int, payload: str) -> None:
        await self.backend.publish(session_id, payload)

    def stats(self) -> dict[str, Any]:
        return {
            "rooms": len(self.rooms),
            "sockets": sum(len(room.sockets) for room in self.rooms.values()),
            "delivered": sum(room.delivered for room in self.rooms.values()),
            "overflows": sum(socket.overflows for room in self.rooms.values() for socket in room.sockets),
        }

    async def close(self) -> None:
        for handle in self._linger.values():
            handle.cancel()
        self._linger.clear()
        rooms, self.rooms = list(self.rooms.values()), {}
        for room in rooms:
            await room.close()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.backend.close()


_hub: Hub | None = None


def get_hub() -> Hub:
    """The hub of the running event loop (created on first use, with the configured backend)."""
    global _hub
    loop = asyncio.get_running_loop()
    if _hub is None or _hub.loop is not loop:
        url = backends.redis_url()
        backend: RoomBackend = RedisBackend(url) if url is not None else MemoryBackend(loop)
        _hub = Hub(loop, backend)
        realtime.set_current_hub(_hub)
    return _hub


async def close_hub() -> None:
    """Close this loop's hub (tests: before their event loop ends)."""
    global _hub
    hub, _hub = _hub, None
    realtime.set_current_hub(None)
    if hub is not None and hub.loop is asyncio.get_running_loop():
        await hub.close()
