"""The words of a history entry and of Info, as every surface shows them: a video that exists
only as a link says until when; a private one says so; Info names every parameter."""

from __future__ import annotations

from dataclasses import replace

from bot import texts
from bot.models import GenerationRequest, Job, JobState
from bot.refs import load_refs
from bot.terminal_markup import TERMINAL
from tests.support import origin

NOW = 1_790_000_000.0


def _job(**changes: object) -> Job:
    job = Job(
        id="abc123",
        origin=origin(platform="discord"),
        request=GenerationRequest(prompt="a  long\nprompt " + "x" * 100, duration_s=8),
        provider="fal",
        model="veo3.1",
        state=JobState.DELIVERED,
        created_at=NOW,
        updated_at=NOW,
        deadline_at=NOW + 600,
        cost_s=8,
    )
    return replace(job, **changes)  # type: ignore[arg-type]


def test_a_video_that_exists_only_as_a_link_says_until_when() -> None:
    expires = NOW + 86_400
    linked = _job(delivery_refs=load_refs("discord", {"link_expires_at": str(int(expires))}))
    entry = texts.history_entry(linked, TERMINAL)
    first, second = entry.splitlines()
    assert first.startswith("abc123 “a long prompt xxx")
    assert first.endswith("…” · veo3.1 · 8 s · done · 8 s of quota · 2026-09-21 14:13 UTC")
    assert second == "Only a link to this video exists; it works until 2026-09-22 14:13 UTC."
    uploaded = texts.history_entry(_job(), TERMINAL)
    assert "\n" not in uploaded


def test_a_private_entry_says_so_and_info_names_every_parameter() -> None:
    private = _job(
        request=GenerationRequest(
            prompt="p",
            duration_s=4,
            private=True,
            seed=9,
            aspect_ratio="9:16",
            negative_prompt="rain",
        ),
        provider_job_id="req-1",
    )
    assert "“p” · private · veo3.1" in texts.history_entry(private, TERMINAL)
    assert texts.job_info(private, TERMINAL).splitlines() == [
        "Job abc123",
        "Model: fal/veo3.1",
        "Seed: 9",
        "Duration: 4 s",
        "Aspect ratio: 9:16",
        "Negative prompt: rain",
        "Provider job id: req-1",
    ]
