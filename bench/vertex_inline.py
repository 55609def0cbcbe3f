"""Vertex inline results: memory while a finished operation carrying a 30 MB video as base64
(a 40 MB JSON answer) is polled once and downloaded to disk through the vertex adapter, with
the fake Vertex in another process. Peak Python allocations (tracemalloc) and peak RSS over
the process's baseline; beside it, the same answer read whole and decoded the usual way
(`response.json()`, `b64decode`) for comparison."""

from __future__ import annotations

import asyncio
import base64
import functools
import gc
import os
import tempfile
import time
import tracemalloc
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.providers.vertex import AccessTokens, VertexProvider, service_account_credentials
from bench._harness import RssSampler, Side, in_child, recv, rss_mb
from bot.models import GenerationRequest
from bot.relay import download_to_file
from tests.fakes import vertex
from tests.fakes._base import sample_mp4

VIDEO_BYTES = 30 * 1024 * 1024  # 40 MB of base64
TARGET = "< 10 MB of Python allocations (the video alone is 30 MB)"
REQUEST = GenerationRequest(
    prompt="harbour at dawn",
    model="veo-3.1-fast-generate-001",
    duration_s=8,
    aspect_ratio="16:9",
    resolution="1080p",
)


async def _fake_side(conn: Connection) -> None:
    # The test key is made per process: the bot's side sends the public half it signs with.
    public_key = serialization.load_pem_public_key(await recv(conn))
    assert isinstance(public_key, rsa.RSAPublicKey)
    video = sample_mp4() + os.urandom(VIDEO_BYTES - len(sample_mp4()))
    fake = vertex.create(video=video, job_duration_s=0.1, public_key=public_key)
    await fake.start()
    conn.send(fake.base_url)
    await recv(conn)
    await fake.close()


async def _measure(how: str, conn: Connection) -> None:
    side = Side(_fake_side)
    try:
        side.send(
            vertex.service_account_key()
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        base_url = await side.recv()
        with tempfile.TemporaryDirectory() as folder:
            conn.send(await _download(how, base_url, Path(folder)))
    except Exception as exc:
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        side.send("stop")
        side.close()


async def _download(how: str, base_url: str, folder: Path) -> dict[str, Any]:
    credentials = service_account_credentials(vertex.key_file_info(f"{base_url}/token"))
    provider = VertexProvider(vertex.PROJECT, credentials, base_url=base_url)
    try:
        name = await provider.submit("bench", REQUEST, callback_url=None)
        await asyncio.sleep(0.3)  # the fake's job is done by then
        gc.collect()
        baseline = rss_mb()
        start = time.perf_counter()
        tracemalloc.start()
        with RssSampler() as sampler:
            if how == "streamed":
                status = await provider.get_status(name)
                size = await download_to_file(
                    provider.download(status), folder / "video.mp4", max_bytes=10**9
                )
            else:
                size = await _whole(base_url, name)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        seconds = time.perf_counter() - start
        return {
            "size": size,
            "traced_mb": peak / 1024**2,
            "rss_mb": sampler.peak_mb - baseline,
            "seconds": seconds,
        }
    finally:
        await provider.aclose()


async def _whole(base_url: str, name: str) -> int:
    """The answer read whole and decoded in one go, as a simple client would."""
    credentials = service_account_credentials(vertex.key_file_info(f"{base_url}/token"))
    tokens = AccessTokens(credentials)
    token = await tokens.token()
    await tokens.aclose()
    resource = name.partition("/operations/")[0]
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        answer = await client.post(
            f"/v1/{resource}:fetchPredictOperation",
            json={"operationName": name},
            headers={"Authorization": f"Bearer {token}"},
        )
        video = base64.b64decode(answer.json()["response"]["videos"][0]["bytesBase64Encoded"])
    return len(video)


def run() -> list[tuple[str, str, str]]:
    rows = []
    for how, label in (("streamed", "vertex adapter"), ("whole", "read whole, for comparison")):
        name = f"vertex 40 MB inline answer, {label}"
        result = in_child(functools.partial(_measure, how), timeout_s=300)
        if "error" in result:
            rows.append((name, f"did not run: {result['error']}"[:120], TARGET))
            continue
        assert result["size"] == VIDEO_BYTES, result
        rows.append(
            (
                name,
                f"peak {result['traced_mb']:.1f} MB allocated, RSS +{result['rss_mb']:.0f} MB "
                f"({result['seconds']:.1f} s)",
                TARGET if how == "streamed" else "-",
            )
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(*row, sep="  |  ")
