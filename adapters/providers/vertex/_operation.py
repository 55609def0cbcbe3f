"""Reading a `fetchPredictOperation` answer while it streams in (docs/providers.md §1.5).

A finished operation carries the video inline, base64 in one JSON string: tens of MB for
1080p. The answer is parsed as it arrives; everything before the video is small and read
into a `Head`, and the parse stops at the first character of the video's base64, so that a
poll can hang up there and a download can decode the rest in chunks straight to disk. Neither
ever holds the whole answer, or the whole video.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from bot.errors import ProviderUnavailable

MAX_DEPTH = 32
# Strings outside the video longer than this are dropped unread (none that matters is).
MAX_KEPT_STRING = 64 * 1024
_SPACE = b" \t\r\n"
_SCALAR_END = b' \t\r\n,]}:"[{'
_ESCAPES = {
    ord('"'): b'"',
    ord("\\"): b"\\",
    ord("/"): b"/",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
}


def _malformed(why: str) -> ProviderUnavailable:
    return ProviderUnavailable(detail=f"operation answer is not valid JSON: {why}")


class _InlineVideo(Exception):
    """The parse reached the opening quote of `response.videos[i].bytesBase64Encoded`."""


@dataclass
class Head:
    """What an operation says, up to (not including) an inline video's bytes."""

    done: bool = False
    error: dict[str, Any] | None = None
    filtered: int = 0
    filtered_reasons: list[str] = field(default_factory=list)
    gcs_uri: str | None = None
    # The first video is inline: the reader stands at the first character of its base64.
    inline: bool = False


class Reader:
    """Bytes from an async iterator of chunks, taken a byte or a run at a time."""

    def __init__(self, chunks: AsyncIterator[bytes], first: bytes = b"") -> None:
        self._chunks = chunks
        self._buf = first
        self._pos = 0

    async def _fill(self) -> bool:
        while self._pos >= len(self._buf):
            chunk = await anext(self._chunks, None)
            if chunk is None:
                return False
            self._buf, self._pos = chunk, 0
        return True

    async def peek(self) -> int:
        """The next byte that is not white space, left unread."""
        while True:
            if not await self._fill():
                raise _malformed("it ends early")
            byte = self._buf[self._pos]
            if byte not in _SPACE:
                return byte
            self._pos += 1

    async def take(self) -> int:
        byte = await self.peek()
        self._pos += 1
        return byte

    async def scalar(self) -> bytes:
        """A number, true, false or null, as written."""
        await self.peek()
        token = b""
        while await self._fill():
            end = self._pos
            while end < len(self._buf) and self._buf[end] not in _SCALAR_END:
                end += 1
            token += self._buf[self._pos : end]
            self._pos = end
            if end < len(self._buf) or len(token) > 64:
                break
        return token

    async def raw_string(self) -> AsyncIterator[bytes]:
        """The rest of a string whose opening quote was taken, in runs as written (escapes
        untouched), up to the closing quote, which is consumed."""
        after_backslash = False
        while True:
            if not await self._fill():
                raise _malformed("a string never ends")
            buf, pos = self._buf, self._pos
            if after_backslash:  # the escaped character, whatever it is, is not the end
                after_backslash = False
                self._pos = pos + 1
                yield buf[pos : pos + 1]
                continue
            quote = buf.find(b'"', pos)
            backslash = buf.find(b"\\", pos, quote if quote >= 0 else len(buf))
            if backslash >= 0:
                self._pos = backslash + 1
                after_backslash = True
                yield buf[pos : backslash + 1]
            elif quote >= 0:
                self._pos = quote + 1
                if quote > pos:
                    yield buf[pos:quote]
                return
            else:
                self._pos = len(buf)
                yield buf[pos:]


async def _string(reader: Reader) -> str | None:
    """A string's value (its opening quote taken); None when longer than `MAX_KEPT_STRING`."""
    runs: list[bytes] = []
    size = 0
    async for run in reader.raw_string():
        size += len(run)
        if size <= MAX_KEPT_STRING:
            runs.append(run)
    if size > MAX_KEPT_STRING:
        return None
    try:
        value = json.loads(b'"' + b"".join(runs) + b'"')
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _malformed("a string is badly escaped") from None
    return str(value)


def _is_video_bytes(path: tuple[str | int, ...], sample: int) -> bool:
    return (
        len(path) == 4
        and path[:2] == ("response", "videos")
        and path[2] == sample
        and path[3] == "bytesBase64Encoded"
    )


async def _value(reader: Reader, path: tuple[str | int, ...], sample: int = 0) -> Any:
    if len(path) > MAX_DEPTH:
        raise _malformed("nested too deep")
    first = await reader.take()
    if first == ord("{"):
        obj: dict[str, Any] = {}
        if await reader.peek() == ord("}"):
            await reader.take()
            return obj
        while True:
            if await reader.take() != ord('"'):
                raise _malformed("an object key is not a string")
            key = await _string(reader)
            if key is None or await reader.take() != ord(":"):
                raise _malformed("an object member has no value")
            if _is_video_bytes((*path, key), sample) and await reader.peek() == ord('"'):
                await reader.take()
                raise _InlineVideo
            obj[key] = await _value(reader, (*path, key), sample)
            after = await reader.take()
            if after == ord("}"):
                return obj
            if after != ord(","):
                raise _malformed("object members are not separated by commas")
    if first == ord("["):
        items: list[Any] = []
        if await reader.peek() == ord("]"):
            await reader.take()
            return items
        while True:
            items.append(await _value(reader, (*path, len(items)), sample))
            after = await reader.take()
            if after == ord("]"):
                return items
            if after != ord(","):
                raise _malformed("array items are not separated by commas")
    if first == ord('"'):
        return await _string(reader)
    token = bytes([first]) + await reader.scalar()
    try:
        return json.loads(token)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _malformed("a value is neither a string, a number nor a literal") from None


async def read_head(reader: Reader, sample: int = 0) -> Head:
    """Parse an operation up to an inline video's bytes, or to its end. `sample`: which of
    the videos of an operation asked for several (`sampleCount`) is wanted, from 0; the
    base64 of those before it is skipped unread."""
    try:
        body = await _value(reader, (), sample)
    except _InlineVideo:
        return Head(done=True, inline=True)  # a result exists only once the operation is done
    if not isinstance(body, dict):
        raise _malformed("the answer is not an object")
    head = Head(done=body.get("done") is True)
    error = body.get("error")
    if isinstance(error, dict):
        head.error = error
    response = body.get("response")
    if isinstance(response, dict):
        filtered = response.get("raiMediaFilteredCount")
        if isinstance(filtered, int) and not isinstance(filtered, bool):
            head.filtered = filtered
        reasons = response.get("raiMediaFilteredReasons")
        if isinstance(reasons, list):
            head.filtered_reasons = [str(r) for r in reasons if r is not None]
        videos = response.get("videos")
        wanted = videos[sample : sample + 1] if isinstance(videos, list) else []
        for video in wanted:
            uri = video.get("gcsUri") if isinstance(video, dict) else None
            if isinstance(uri, str) and uri:
                head.gcs_uri = uri
    return head


class _Unescaper:
    """JSON string escapes undone in a stream of raw runs whose text is ASCII (base64)."""

    def __init__(self) -> None:
        self._pending = b""  # an escape cut by the end of a run: b"\\" or b"\\u00"

    def feed(self, run: bytes) -> bytes:
        if self._pending:
            run, self._pending = self._pending + run, b""
        if b"\\" not in run:
            return run
        out = bytearray()
        start = 0
        while (backslash := run.find(b"\\", start)) >= 0:
            out += run[start:backslash]
            kind = run[backslash + 1 : backslash + 2]
            if kind == b"u":
                digits = run[backslash + 2 : backslash + 6]
                if len(digits) < 4:
                    self._pending = run[backslash:]
                    return bytes(out)
                try:
                    code = int(digits, 16)
                except ValueError:
                    raise _malformed("a \\u escape is not hexadecimal") from None
                if code > 0x7F:
                    raise _malformed("the video's base64 holds a non-ASCII character")
                out.append(code)
                start = backslash + 6
            elif not kind:
                self._pending = run[backslash:]
                return bytes(out)
            elif kind[0] in _ESCAPES:
                out += _ESCAPES[kind[0]]
                start = backslash + 2
            else:
                raise _malformed("an unknown escape in the video's base64")
        out += run[start:]
        return bytes(out)

    def close(self) -> None:
        if self._pending:
            raise _malformed("the video's base64 ends inside an escape")


class _Base64Decoder:
    """Standard base64 decoded in pieces: whole 4-character groups at a time."""

    def __init__(self) -> None:
        self._carry = b""

    def feed(self, text: bytes) -> bytes:
        text = self._carry + text.translate(None, _SPACE)
        usable = len(text) - len(text) % 4
        self._carry = text[usable:]
        try:
            return base64.b64decode(text[:usable], validate=True)
        except (binascii.Error, ValueError):
            raise ProviderUnavailable(detail="the inline video is not valid base64") from None

    def close(self) -> None:
        if self._carry:
            raise ProviderUnavailable(detail="the inline video's base64 is cut short")


async def inline_video(reader: Reader) -> AsyncIterator[bytes]:
    """The video's bytes, decoded piece by piece from a reader that `read_head` left at the
    start of its base64 (the rest of the answer is never read)."""
    unescape, decode = _Unescaper(), _Base64Decoder()
    async for run in reader.raw_string():
        data = decode.feed(unescape.feed(run))
        if data:
            yield data
    unescape.close()
    decode.close()
