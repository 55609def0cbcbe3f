"""Gemini models over time: retired Veo ids refused before anything is sent or charged, the
model list read for the doctor, the fake as strict as Google, and `veo-bot try` end to end."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.providers.gemini import OMNI
from bot.errors import InvalidRequest
from bot.models import GenerationRequest, JobState
from tests.fakes.gemini import API_KEY, create
from tests.gemini.support import CREATE, RETIRED, RETIRED_SENTENCE, BotFactory, assert_plain, b64
from tests.support import origin, png_bytes, run_cli


@pytest.mark.parametrize(
    "model",
    [
        "veo-3.1-fast-generate-preview",
        "veo-3.1-generate-preview",
        "veo-3.0-generate-001",
        "veo-3.0-fast-generate-001",
        "veo-2.0-generate-001",
    ],
)
async def test_a_retired_veo_id_is_refused_before_anything_is_sent_or_charged(
    make_bot: BotFactory, model: str
) -> None:
    bot = await make_bot()
    with pytest.raises(InvalidRequest) as refused:
        await bot.service.submit(GenerationRequest(prompt="a fox", model=model), origin())

    assert refused.value.field == "model"
    assert "was retired by Google on 2026-" in refused.value.user_message
    assert refused.value.user_message.endswith("; use gemini-omni-1.1-flash instead.")
    assert bot.fake.requests == []
    assert await bot.store.recent_jobs(5) == []


async def test_the_sentence_for_a_retired_veo_id(make_bot: BotFactory) -> None:
    bot = await make_bot()
    with pytest.raises(InvalidRequest) as refused:
        await bot.service.submit(GenerationRequest(prompt="a fox", model=RETIRED), origin())
    assert refused.value.user_message == RETIRED_SENTENCE


async def test_a_model_google_retired_unannounced_is_refunded_and_warned_once(
    make_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await make_bot(retired_models={OMNI})
    with caplog.at_level(logging.WARNING, logger="bot.lifecycle"):
        jobs = [await bot.run(GenerationRequest(prompt=f"a fox {n}")) for n in range(2)]

    for job in jobs:
        assert job.state is JobState.FAILED and job.error_code == "model_retired"
        assert await bot.ledger(job) == "refunded"
        message = bot.failure(job)
        assert message.startswith(
            "Gemini Omni Flash (gemini-omni-1.1-flash) was retired; pick another provider's model."
        )
        assert_plain(message)
    warnings = [r for r in caplog.records if "no longer available" in r.getMessage()]
    assert len(warnings) == 1 and OMNI in warnings[0].getMessage()
    assert len(bot.fake.received("POST", CREATE)) == 2  # each tried once, never retried


async def test_models_list_is_read_page_by_page_for_the_doctor(make_bot: BotFactory) -> None:
    bot = await make_bot(max_page_size=2)
    health = await bot.provider.health()

    assert health.reachable and health.key_accepted is True
    assert health.live_models is not None and OMNI in health.live_models
    assert len(health.live_models) == 4
    pages = bot.fake.received("GET", "/v1beta/models")
    assert [p.query.get("pageToken") for p in pages] == [None, "2"]
    assert all(p.headers["x-goog-api-key"] == API_KEY for p in pages)


async def test_the_doctor_call_says_when_the_key_is_refused(make_bot: BotFactory) -> None:
    bot = await make_bot(key="not-the-key")
    health = await bot.provider.health()

    assert health.reachable and health.key_accepted is False
    assert "not-the-key" not in health.detail


PNG = {"type": "image", "data": b64(png_bytes()), "mime_type": "image/png"}
GIF_CALLED_PNG = {"type": "image", "data": b64(b"GIF89a\x01\x00"), "mime_type": "image/png"}
TEXT = {"type": "text", "text": "a fox"}
VIDEO_FORMAT = {"type": "video", "duration": "8s"}


@pytest.mark.parametrize(
    ("changes", "auth", "status", "words"),
    [
        ({}, "header", 200, "queued"),
        ({}, "query", 200, "queued"),
        ({}, "wrong key", 400, "API key not valid"),
        ({}, "none", 403, "unregistered callers"),
        ({"negative_prompt": "people"}, "header", 400, 'Unknown name "negative_prompt"'),
        ({"model": "veo-3.1-fast-generate-preview"}, "header", 404, "is no longer available"),
        ({"model": "veo-9-imaginary"}, "header", 404, "is not found"),
        ({"response_format": {"type": "video", "duration": 8}}, "header", 400, 'like "8s"'),
        ({"response_format": {"type": "video", "duration": "12s"}}, "header", 400, "3s to 10s"),
        ({"response_format": {**VIDEO_FORMAT, "aspect_ratio": "1:1"}}, "header", 400, "16:9"),
        ({"response_format": {**VIDEO_FORMAT, "gcs_uri": "gs://b/"}}, "header", 400, "Vertex"),
        ({"response_format": {**VIDEO_FORMAT, "resolution": "4k"}}, "header", 200, "queued"),
        ({"system_instruction": "be nice"}, "header", 400, "not supported"),
        ({"generation_config": {"temperature": 0.5}}, "header", 400, "not supported"),
        ({"generation_config": {"seed": "7"}}, "header", 400, "seed"),
        ({"generation_config": {"video_config": {"task": "dance"}}}, "header", 400, "task"),
        ({"stream": True}, "header", 400, "stream"),
        ({"previous_interaction_id": "v1_nope"}, "header", 400, "Invalid interaction name"),
        ({"input": [PNG, {"type": "text", "text": "<LAST_FRAME> x"}]}, "header", 400, "FIRST"),
        ({"input": [PNG, {"type": "text", "text": "@Image2 x"}]}, "header", 400, "Image2"),
        ({"input": [GIF_CALLED_PNG, TEXT]}, "header", 400, "is not a image/png image"),
        ({"input": [PNG]}, "header", 400, "text prompt is required"),
        ({"input": [PNG, TEXT]}, "header", 200, "queued"),
        ({"input": [{"type": "user_input", "content": [TEXT]}]}, "header", 200, "queued"),
    ],
)
async def test_the_fake_refuses_what_google_refuses(
    changes: dict[str, Any], auth: str, status: int, words: str
) -> None:
    body = {"model": OMNI, "input": "a fox", "background": True, **changes}
    headers = {"header": {"x-goog-api-key": API_KEY}, "wrong key": {"x-goog-api-key": "nope"}}
    fake = create()
    await fake.start()
    try:
        async with httpx.AsyncClient(base_url=fake.base_url) as client:
            answer = await client.post(
                CREATE,
                json=body,
                headers=headers.get(auth, {}),
                params={"key": API_KEY} if auth == "query" else {},
            )
    finally:
        await fake.close()
    assert answer.status_code == status, answer.text
    found = answer.json()
    assert words in (found["status"] if status == 200 else found["error"]["message"])


async def test_the_cli_makes_a_video_through_the_fake(tmp_path: Path) -> None:
    fake = create(job_duration_s=0.1)
    await fake.start()
    try:
        result = await asyncio.to_thread(
            run_cli,
            tmp_path,
            "try",
            "a paper lantern rises",
            "--provider",
            "gemini",
            "--model",
            OMNI,
            "--duration",
            "4",
            GEMINI_BASE_URL=fake.base_url,
            GEMINI_API_KEY=API_KEY,
        )
    finally:
        await fake.close()
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.suffix == ".mp4"
    assert await asyncio.to_thread(path.read_bytes) == fake.video
    assert API_KEY not in result.stdout + result.stderr
    [body] = [r.json() for r in fake.received("POST", CREATE)]
    assert body["model"] == OMNI and body["response_format"]["duration"] == "4s"


async def test_the_cli_refuses_a_retired_model_with_the_sentence_and_exit_2(
    tmp_path: Path,
) -> None:
    fake = create()
    await fake.start()
    try:
        result = await asyncio.to_thread(
            run_cli,
            tmp_path,
            "try",
            "a paper lantern rises",
            "--provider",
            "gemini",
            "--model",
            RETIRED,
            GEMINI_BASE_URL=fake.base_url,
            GEMINI_API_KEY=API_KEY,
        )
    finally:
        await fake.close()
    assert result.returncode == 2
    assert result.stderr.strip() == f"veo-bot: {RETIRED_SENTENCE}"
    assert fake.requests == []
    assert "no jobs yet" in run_cli(tmp_path, "jobs").stdout
