"""Moving a finished video from the provider to disk: streamed, size-capped, never held whole."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from bot.errors import ProviderError


class ResultTooLarge(ProviderError):
    default_message = "The finished video is larger than the bot accepts."
    default_code = "result_too_large"


async def download_to_file(chunks: AsyncIterator[bytes], dest: Path, *, max_bytes: int) -> int:
    """Write the streamed bytes to `dest` (via a sibling .part file); return the size."""
    part = dest.with_name(dest.name + ".part")
    size = 0
    try:
        with part.open("wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise ResultTooLarge(detail=f"over {max_bytes} bytes")
                await asyncio.to_thread(out.write, chunk)
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return size
