"""Wake-ups across replicas on PostgreSQL: NOTIFY on channel `veo_jobs`, and one dedicated
connection per process that LISTENs on it.

A payload is `<event>:<job_id>` (events `created`, `callback`, `cancelled`, `due`). The
listening connection is watched: when it drops (the server restarted, a network cut, a
silent peer found by a periodic ping) it is opened again with a growing backoff; the loss is
logged once, and so is the recovery. Notices sent while nobody listened are lost: after a
reconnection the listener reports `listening`, so that the scheduler looks for due jobs at
once, and polling stays the safety net throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from storage.urls import shown

log = logging.getLogger(__name__)

CHANNEL = "veo_jobs"
# Reported to the listener's owner, with no job, once listening again after a loss.
LISTENING = "listening"
APPLICATION_NAME = "veo-bot-listen"
CONNECT_TIMEOUT_S = 10.0
# How often a quiet listening connection is asked whether it is still there, and how long
# it may take to answer: a peer that vanished without closing the connection is found so.
PING_EVERY_S = 30.0
PING_TIMEOUT_S = 5.0

Notice = Callable[[str, str], None]


def payload(event: str, job_id: str) -> str:
    """What a NOTIFY on `CHANNEL` carries for `event` about `job_id`."""
    return f"{event}:{job_id}"


def parse(text: str) -> tuple[str, str]:
    """(event, job id) from a payload; a payload without a colon is an event about no job."""
    event, _, job_id = text.partition(":")
    return event, job_id


class PostgresListener:
    """LISTENs on `CHANNEL` on a connection of its own, calling `on_notice(event, job_id)`
    for every notice, and opening the connection again whenever it drops."""

    def __init__(
        self,
        url: str,
        on_notice: Notice,
        *,
        backoff_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        ping_every_s: float = PING_EVERY_S,
    ) -> None:
        self._url = url
        self._on_notice = on_notice
        self._backoff_s = backoff_s
        self._backoff_cap_s = backoff_cap_s
        self._ping_every_s = ping_every_s
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        # Set while a connection listens: what tests and health wait on.
        self.listening = asyncio.Event()
        self.backend_pid: int | None = None

    async def start(self) -> None:
        """Start listening; returns once the first connection listens, or once it failed
        (the loop then goes on trying in the background)."""
        self._task = asyncio.create_task(self._run(), name="veo-listen")
        first = asyncio.create_task(self.listening.wait())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await asyncio.wait({first, self._task}, return_when=asyncio.FIRST_COMPLETED)
        first.cancel()

    async def close(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = self._backoff_s
        lost_since_listening = False
        while True:
            try:
                db = await asyncpg.connect(
                    self._url,
                    timeout=CONNECT_TIMEOUT_S,
                    server_settings={"application_name": APPLICATION_NAME},
                )
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not lost_since_listening:
                    log.warning(
                        "cannot listen for job events at %s (%s); retrying with backoff, "
                        "polling meanwhile",
                        shown(self._url),
                        exc,
                    )
                    lost_since_listening = True
                await asyncio.sleep(delay)
                delay = min(self._backoff_cap_s, delay * 2)
                continue
            try:
                await self._listen(db)
                if lost_since_listening:
                    log.info("listening for job events again")
                    self._on_notice(LISTENING, "")
                lost_since_listening = False
                delay = self._backoff_s
                await self._until_lost(db)
                log.warning("lost the connection that listens for job events; reconnecting")
                lost_since_listening = True
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not lost_since_listening:
                    log.warning("listening for job events failed (%s); reconnecting", exc)
                    lost_since_listening = True
                await asyncio.sleep(delay)
                delay = min(self._backoff_cap_s, delay * 2)
            finally:
                self.listening.clear()
                self.backend_pid = None
                with contextlib.suppress(Exception):
                    await db.close(timeout=1.0)

    async def _listen(self, db: asyncpg.Connection[Any]) -> None:
        self._lost.clear()
        db.add_termination_listener(lambda _db: self._lost.set())
        await db.add_listener(CHANNEL, self._heard)
        self.backend_pid = db.get_server_pid()
        self.listening.set()

    async def _until_lost(self, db: asyncpg.Connection[Any]) -> None:
        """Return once the connection is gone: closed (the termination listener says so) or
        silent (a ping gets no answer)."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._ping_every_s):
                    await self._lost.wait()
                    return
            try:
                async with asyncio.timeout(PING_TIMEOUT_S):
                    await db.fetchval("SELECT 1")
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return

    def _heard(self, _db: object, _pid: int, _channel: str, text: object) -> None:
        event, job_id = parse(str(text))
        try:
            self._on_notice(event, job_id)
        except Exception:
            log.exception("handling the job event %r failed", text)
