"""What every fake provider shares: a real server on 127.0.0.1, a record of every request,
faults injected on demand, answers held back after their first bytes (`trickle`), an
injectable clock that drives jobs, and a real MP4 to serve."""

from __future__ import annotations

import asyncio
import collections
import fnmatch
import functools
import io
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import av
from aiohttp import web
from PIL import Image

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@functools.cache
def sample_mp4(seconds: int = 1, width: int = 160, height: int = 90) -> bytes:
    """A small but real H.264 MP4, as a provider would return."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(seconds * 24):
            shade = int(255 * index / (seconds * 24))
            frame = av.VideoFrame.from_image(Image.new("RGB", (width, height), (shade, 80, 160)))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Fault:
    """An answer that replaces the real one for matching requests, `times` times.

    `path` is a glob over the request path (`/v1/ltxstudio/assets/*`). With `delay_s` the
    fake waits first (a read timeout on the client); with `reset` it drops the connection."""

    path: str
    status: int = 500
    body: Any = None
    method: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    delay_s: float = 0.0
    reset: bool = False
    passthrough: bool = False  # only delay, then answer normally

    def matches(self, request: web.Request) -> bool:
        return (self.method is None or self.method == request.method) and fnmatch.fnmatchcase(
            request.path, self.path
        )


@dataclass
class RateLimit:
    """The provider's own rate limit on matching requests (`path` glob, `method`): at most
    `count` in any `window_s` by the fake's clock; past it, 429 with a `Retry-After` saying
    when the oldest leaves the window. `seen` holds when each matching request came,
    refused or not; `refused` counts the 429s."""

    path: str
    count: int
    window_s: float = 60.0
    method: str | None = None
    seen: list[float] = field(default_factory=list)
    refused: int = 0
    _admitted: collections.deque[float] = field(default_factory=collections.deque)

    def matches(self, request: web.Request) -> bool:
        return (self.method is None or self.method == request.method) and fnmatch.fnmatchcase(
            request.path, self.path
        )

    def admit(self, now: float) -> float | None:
        """None when the request is within the limit (counted), else seconds to wait."""
        self.seen.append(now)
        while self._admitted and self._admitted[0] <= now - self.window_s:
            self._admitted.popleft()
        if len(self._admitted) < self.count:
            self._admitted.append(now)
            return None
        self.refused += 1
        return self._admitted[0] + self.window_s - now

    def most_in_a_window(self) -> int:
        """The most requests (refused ones too) any window of `window_s` held."""
        most, first = 0, 0
        for last, moment in enumerate(self.seen):
            while self.seen[first] <= moment - self.window_s:
                first += 1
            most = max(most, last - first + 1)
        return most


@dataclass
class Trickle:
    """Answers to matching requests (`path` glob, `times` of them) send their first `head`
    bytes, then nothing more until `release()`: a download that lasts as long as the server
    likes. `started` is set once the head is out; `dropped` counts answers whose client gave
    up (closed the connection) while they were held."""

    path: str
    head: int = 4096
    times: int = 1
    started: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self._released.set()

    async def serve(self, request: web.Request, answer: web.Response) -> web.StreamResponse:
        body = bytes(answer.body or b"")  # type: ignore[arg-type]
        stream = web.StreamResponse(status=answer.status, headers=answer.headers)
        stream.content_length = len(body)
        try:
            await stream.prepare(request)
            await stream.write(body[: self.head])
            self.started.set()
            await self._released.wait()
            await stream.write(body[self.head :])
            await stream.write_eof()
        except (ConnectionError, RuntimeError):
            self.dropped += 1  # the client went away meanwhile
        return stream


class FakeProvider:
    """Base of the family fakes. Subclasses add routes in `routes()`."""

    family = "base"

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        job_duration_s: float = 0.3,
        video: bytes | None = None,
    ) -> None:
        self.clock = clock
        self.job_duration_s = job_duration_s
        self.video = video if video is not None else sample_mp4()
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.trickles: list[Trickle] = []
        self.rate_limits: list[RateLimit] = []
        self.app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024**2)
        self.app.add_routes(self.routes())
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.port = 0

    def routes(self) -> list[web.RouteDef]:
        return []

    def inject(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def limit_rate(
        self, path: str, count: int, window_s: float = 60.0, *, method: str | None = None
    ) -> RateLimit:
        """Answer 429 past `count` matching requests in any `window_s` (see `RateLimit`)."""
        limit = RateLimit(path, count, window_s, method)
        self.rate_limits.append(limit)
        return limit

    def trickle(self, path: str, *, head: int = 4096, times: int = 1) -> Trickle:
        """Hold back all but the first `head` bytes of the next `times` answers to `path`."""
        trickle = Trickle(path, head=head, times=times)
        self.trickles.append(trickle)
        return trickle

    def received(self, method: str, pattern: str) -> list[Recorded]:
        return [
            r for r in self.requests if r.method == method and fnmatch.fnmatchcase(r.path, pattern)
        ]

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        for limit in self.rate_limits:
            if limit.matches(request):
                wait = limit.admit(self.clock())
                if wait is not None:
                    return web.Response(
                        status=429,
                        text=json.dumps({"error": {"message": "rate limit exceeded"}}),
                        content_type="application/json",
                        headers={"Retry-After": str(max(1, math.ceil(wait)))},
                    )
        for fault in self.faults:
            if fault.times > 0 and fault.matches(request):
                fault.times -= 1
                if fault.delay_s:
                    await asyncio.sleep(fault.delay_s)
                if fault.passthrough:
                    break
                if fault.reset:
                    assert request.transport is not None
                    request.transport.abort()
                    return web.Response(status=500)
                if isinstance(fault.body, (dict, list)):
                    return web.Response(
                        status=fault.status,
                        text=json.dumps(fault.body),
                        content_type="application/json",
                        headers=fault.headers,
                    )
                return web.Response(
                    status=fault.status, text=str(fault.body or ""), headers=fault.headers
                )
        answer = await handler(request)
        for trickle in self.trickles:
            if (
                trickle.times > 0
                and isinstance(answer, web.Response)
                and fnmatch.fnmatchcase(request.path, trickle.path)
            ):
                trickle.times -= 1
                return await trickle.serve(request, answer)
        return answer

    async def start(self, port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        return self.base_url

    async def close(self) -> None:
        for trickle in self.trickles:
            trickle.release()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeProvider:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def bearer(request: web.Request) -> str | None:
    value = request.headers.get("Authorization", "")
    return value.removeprefix("Bearer ") if value.startswith("Bearer ") else None
