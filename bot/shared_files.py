"""The `Blobs` port (part of `Store`), and a job's files in it, for every process on the
database to read: the video behind a result link, and the bot's own copy of a finished video
whose delivery must wait (so that another replica can post it without asking the provider
again). Streamed both ways in pieces; a file on disk is read and written in a worker thread."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator, Collection
from pathlib import Path
from typing import Protocol

_PIECE = 1024 * 1024


class Blobs(Protocol):
    """Files every process on the database reads, streamed in rows of at most 1 MiB."""

    async def put_blob(self, name: str, chunks: AsyncIterable[bytes], *, now: float) -> int:
        """Store `chunks` as the blob `name`, replacing it once whole; returns its size."""
        ...

    async def blob_size(self, name: str) -> int | None:
        """The size of the blob `name`, None when there is none."""
        ...

    def read_blob(self, name: str) -> AsyncIterator[bytes]:
        """The blob's bytes in order; `FileNotFoundError` when there is none."""
        ...

    async def delete_blobs(self, names: Collection[str]) -> int:
        """Delete these blobs (missing ones are no error); how many there were."""
        ...


def kept_name(job_id: str) -> str:
    """The blob of the video behind the job's result link."""
    return f"jobs/{job_id}/result.mp4"


def own_copy_name(job_id: str) -> str:
    """The blob of the bot's own copy of the job's video, while its delivery waits."""
    return f"jobs/{job_id}/video.mp4"


def names_of(job_id: str) -> list[str]:
    """Every blob a job may have."""
    return [kept_name(job_id), own_copy_name(job_id)]


async def _pieces(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while piece := await asyncio.to_thread(source.read, _PIECE):
            yield piece


async def put_file(blobs: Blobs, name: str, path: Path, *, now: float) -> int | None:
    """Store the file at `path` as the blob `name`; its size, None when there is no file."""
    try:
        return await blobs.put_blob(name, _pieces(path), now=now)
    except FileNotFoundError:
        return None


async def fetch_file(blobs: Blobs, name: str, path: Path) -> int | None:
    """Write the blob `name` to `path` (whole or not at all); its size, None when there is
    no such blob."""
    if await blobs.blob_size(name) is None:
        return None
    part = path.with_name(path.name + ".part")
    size = 0
    try:
        with part.open("wb") as out:
            async for piece in blobs.read_blob(name):
                await asyncio.to_thread(out.write, piece)
                size += len(piece)
        await asyncio.to_thread(os.replace, part, path)
    except FileNotFoundError:
        return None  # deleted while it was read
    finally:
        await asyncio.to_thread(part.unlink, missing_ok=True)
    return size
