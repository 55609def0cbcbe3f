"""fal.ai in health, the fake's own strictness, and `veo-bot try` end to end through the fake."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.providers import default_catalog
from adapters.providers.fal import FalProvider
from bot.clock import SystemClock
from bot.errors import InvalidRequest
from bot.links import MediaLinks
from bot.media import load_image
from bot.models import GenerationRequest
from tests.fakes._base import sample_mp4
from tests.fakes.fal import API_KEY, JWKS_PATH, FalFake
from tests.fal.support import (
    FAST,
    FIRST,
    LAST,
    LITE,
    REF,
    VEO31,
    BotFactory,
    data_uri,
    fal_provider,
)
from tests.support import run_cli


async def test_health_says_whether_the_queue_answers_and_takes_the_key() -> None:
    async with FalFake() as fake:
        assert isinstance(fake, FalFake)
        links = MediaLinks(None, "s", SystemClock())
        good = fal_provider(fake, links)
        bad = FalProvider("fal-wrong:key", links, queue_url=fake.base_url)
        try:
            ok, refused = await good.health(), await bad.health()
        finally:
            await good.aclose()
            await bad.aclose()
        port = fake.port
    assert (ok.reachable, ok.key_accepted) == (True, True)
    assert (refused.reachable, refused.key_accepted) == (True, False)
    assert "FAL_KEY" in refused.detail and "fal-wrong" not in refused.detail
    down = FalProvider(API_KEY, links, queue_url=f"http://127.0.0.1:{port}")
    try:
        gone = await down.health()
    finally:
        await down.aclose()
    assert (gone.reachable, gone.key_accepted) == (False, None)


GIF = "data:image/png;base64," + base64.b64encode(b"GIF89a\x01\x00\x01\x00").decode()


@pytest.mark.parametrize(
    ("endpoint", "body", "auth", "status", "words"),
    [
        (FAST, {"prompt": "p", "image_url": data_uri(FIRST)}, True, 422, "extra_forbidden"),
        (f"{FAST}/image-to-video", {"prompt": "p"}, True, 422, "field required"),
        (FAST, {"prompt": "p", "duration": 8}, True, 422, "literal_error"),
        (FAST, {"prompt": "p", "duration": "5s"}, True, 422, "literal_error"),
        (LITE, {"prompt": "p", "resolution": "4k"}, True, 422, "literal_error"),
        (FAST, {"prompt": "p", "aspect_ratio": "auto"}, True, 422, "literal_error"),
        (f"{FAST}/image-to-video", {"prompt": "p", "image_url": GIF}, True, 422, "not a PNG"),
        (f"{FAST}/reference-to-video", {"prompt": "p"}, True, 404, "not found"),
        (f"{VEO31}/extend-video", {"prompt": "p", "video_url": data_uri(FIRST)}, True, 422, "MP4"),
        (FAST, {"prompt": "p"}, False, 401, "No user found"),
        (FAST, {"prompt": "p", "seed": 7, "generate_audio": True}, True, 200, "IN_QUEUE"),
    ],
)
async def test_the_fake_refuses_what_fal_refuses(
    endpoint: str, body: dict[str, Any], auth: bool, status: int, words: str
) -> None:
    async with FalFake() as fake, httpx.AsyncClient(base_url=fake.base_url) as client:
        headers = {"Authorization": f"Key {API_KEY}"} if auth else {}
        answer = await client.post(f"/{endpoint}", json=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert words in answer.text


async def test_the_fakes_webhook_signature_is_what_fal_documents() -> None:
    """The recipe, checked with the public key alone: Ed25519 over request id, user id,
    timestamp and the body's SHA-256, joined by newlines."""
    async with FalFake() as fake:
        assert isinstance(fake, FalFake)
        body = b'{"request_id": "r"}'
        headers = fake.signed_headers("r", body)
        jwk = fake.signing_key.public_key()
    message = "\n".join(
        (
            "r",
            headers["X-Fal-Webhook-User-Id"],
            headers["X-Fal-Webhook-Timestamp"],
            hashlib.sha256(body).hexdigest(),
        )
    ).encode()
    jwk.verify(bytes.fromhex(headers["X-Fal-Webhook-Signature"]), message)


@pytest.mark.parametrize("frames", [(), ("--image",), ("--image", "--end-image")])
async def test_veo_bot_try_makes_an_mp4_through_the_fake(
    tmp_path: Path, frames: tuple[str, ...]
) -> None:
    first, last = tmp_path / "first.png", tmp_path / "last.png"
    first.write_bytes(FIRST)
    last.write_bytes(LAST)
    files = {"--image": str(first), "--end-image": str(last)}
    async with FalFake(job_duration_s=0.1) as fake:
        result = await asyncio.to_thread(
            run_cli,
            tmp_path,
            "try",
            "a paper lantern rises",
            "--provider",
            "fal",
            "--model",
            FAST,
            *[arg for flag in frames for arg in (flag, files[flag])],
            FAL_KEY=API_KEY,
            FAL_QUEUE_URL=fake.base_url,
            FAL_JWKS_URL=fake.base_url + JWKS_PATH,
        )
        [post] = [r for r in fake.requests if r.method == "POST"]
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.suffix == ".mp4"
    assert await asyncio.to_thread(path.read_bytes) == sample_mp4()
    assert API_KEY not in result.stdout + result.stderr
    expected = {
        (): FAST,
        ("--image",): f"{FAST}/image-to-video",
        ("--image", "--end-image"): f"{FAST}/first-last-frame-to-video",
    }[frames]
    assert post.path == f"/{expected}"


@pytest.mark.parametrize(
    ("request_", "field_"),
    [
        (
            GenerationRequest(prompt="p", model=FAST, reference_images=(load_image(REF),)),
            "references",
        ),
        (
            GenerationRequest(
                prompt="p", model=VEO31, duration_s=6, reference_images=(load_image(REF),)
            ),
            "duration",
        ),
        (GenerationRequest(prompt="p", model=LITE, resolution="4k"), "resolution"),
        (GenerationRequest(prompt="p", model=FAST, aspect_ratio="1:1"), "aspect_ratio"),
    ],
)
async def test_the_catalog_refuses_what_the_endpoints_do_not_take_before_anything_is_sent(
    make_bot: BotFactory, request_: GenerationRequest, field_: str
) -> None:
    bot = await make_bot()
    with pytest.raises(InvalidRequest) as refused:
        await bot.submit(request_)

    assert refused.value.field == field_
    assert bot.fake.requests == []
    assert await bot.service.store.recent_jobs(5) == []


def test_every_model_is_in_the_catalog_with_its_price_per_second() -> None:
    specs = {spec.id: spec for spec in default_catalog().models("fal")}
    assert set(specs) == {FAST, VEO31, LITE}
    prices = {i: (s.price_usd_per_s, s.price_usd_per_s_audio) for i, s in specs.items()}
    assert prices == {FAST: (0.10, 0.15), VEO31: (0.20, 0.40), LITE: (0.05, None)}
    assert default_catalog().default_model("fal").id == FAST
