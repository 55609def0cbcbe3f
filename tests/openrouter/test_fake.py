"""The OpenRouter fake refuses what OpenRouter refuses."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fakes.openrouter import API_KEY, OpenRouterFake
from tests.openrouter.support import FIRST, LAST, REF, SUBMIT, data_url, frame

GOOD = {
    "model": "google/veo-3.1",
    "prompt": "a fox",
    "duration": 8,
    "resolution": "720p",
    "aspect_ratio": "16:9",
}


@pytest.mark.parametrize(
    ("body", "auth", "status", "words"),
    [
        (GOOD, "none", 401, "No auth credentials"),
        (GOOD, "wrong", 401, "User not found"),
        ({**GOOD, "model": "openai/sora-9"}, "key", 404, "not found"),
        ({k: v for k, v in GOOD.items() if k != "prompt"}, "key", 400, "prompt is required"),
        ({**GOOD, "duration": "8"}, "key", 400, "positive integer"),
        ({**GOOD, "duration": 5}, "key", 400, "duration 5 is not supported"),
        ({**GOOD, "resolution": "4k"}, "key", 400, "resolution must be one of"),
        ({**GOOD, "resolution": "4K"}, "key", 400, "not supported by google/veo-3.1"),
        ({**GOOD, "aspect_ratio": "1:1"}, "key", 400, "not supported by google/veo-3.1"),
        ({**GOOD, "negative_prompt": "blur"}, "key", 400, "Unrecognized key"),
        (
            {**GOOD, "frame_images": [{**frame(FIRST, "first_frame"), "frame_type": "middle"}]},
            "key",
            400,
            "frame_type must be",
        ),
        (
            {**GOOD, "frame_images": [frame(FIRST, "first_frame"), frame(LAST, "first_frame")]},
            "key",
            400,
            "same frame_type twice",
        ),
        (
            {
                **GOOD,
                "model": "alibaba/wan-2.7",
                "duration": 5,
                "frame_images": [frame(LAST, "last_frame")],
            },
            "key",
            400,
            "does not support last_frame",
        ),
        (
            {**GOOD, "frame_images": [frame(b"GIF89a\x01\x00\x01\x00", "first_frame")]},
            "key",
            400,
            "not a PNG, JPEG or WebP",
        ),
        (
            {
                **GOOD,
                "duration": 4,
                "input_references": [{"type": "image_url", "image_url": {"url": data_url(REF)}}],
            },
            "key",
            400,
            "8 seconds only",
        ),
        ({**GOOD, "generate_audio": "yes"}, "key", 400, "must be a boolean"),
        (
            {**GOOD, "callback_url": "http://bot.example/callbacks"},
            "key",
            400,
            "callback_url must be an HTTPS URL",
        ),
        ({**GOOD, "callback_url": "https://bot.example/cb", "seed": 7}, "key", 202, "pending"),
    ],
)
async def test_the_fake_refuses_what_openrouter_refuses(
    body: dict[str, Any], auth: str, status: int, words: str
) -> None:
    headers = {
        "key": {"Authorization": f"Bearer {API_KEY}"},
        "wrong": {"Authorization": "Bearer sk-or-v1-x"},
    }
    async with OpenRouterFake(job_duration_s=3600) as fake, httpx.AsyncClient() as client:
        answer = await client.post(
            f"{fake.base_url}{SUBMIT}", json=body, headers=headers.get(auth, {})
        )
    assert answer.status_code == status, answer.text
    assert words in answer.text
    if status >= 400:
        assert answer.json()["error"]["code"] == status
