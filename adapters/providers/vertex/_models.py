"""The Veo 3.1 models Vertex AI serves (docs/providers.md §1.1, §7, §8)."""

from __future__ import annotations

import dataclasses

from bot.catalog import EIGHT_ONLY_HIGH_RES, WIDE_TALL, DurationRule, InputKind, ModelSpec

_FRAMES = frozenset({InputKind.TEXT, InputKind.FIRST_FRAME, InputKind.LAST_FRAME})

# Prices per second in USD, no sound / with sound: docs/providers.md §7 (2026-12-01), fal's
# pass-through of Google's Vertex rates and resellers; Google's own pricing page was not read.
_SOURCE = "Google's rates as fal passes them through (fal.ai/models/fal-ai/veo3.1), read 2026-12-01"
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        provider="vertex",
        id="veo-3.1-fast-generate-001",
        label="Veo 3.1 Fast",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p", "1080p"),
        # References on fast: two third-party implementations use them (docs/providers.md
        # §1.1, S); Google's reference list could not be read.
        inputs=_FRAMES | {InputKind.REFERENCES},
        max_references=3,
        max_prompt_chars=2000,
        audio=True,
        max_samples=4,  # `sampleCount` 1-4 (docs/providers.md §1.1)
        duration_rules=(*EIGHT_ONLY_HIGH_RES, DurationRule("references", (8,))),
        default=True,
        price_usd_per_s=0.10,
        price_usd_per_s_audio=0.15,
        price_source=_SOURCE,
        description="GA since 2025-11-17.",
    ),
    ModelSpec(
        provider="vertex",
        id="veo-3.1-generate-001",
        label="Veo 3.1",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p", "1080p"),
        inputs=_FRAMES | {InputKind.REFERENCES},
        max_references=3,
        max_prompt_chars=2000,
        audio=True,
        max_samples=4,  # `sampleCount` 1-4 (docs/providers.md §1.1)
        duration_rules=(*EIGHT_ONLY_HIGH_RES, DurationRule("references", (8,))),
        price_usd_per_s=0.20,
        price_usd_per_s_audio=0.40,
        price_source=_SOURCE,
        description="GA since 2025-11-17.",
    ),
    ModelSpec(
        provider="vertex",
        id="veo-3.1-lite-generate-001",
        label="Veo 3.1 Lite (preview)",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=WIDE_TALL,
        resolutions=("720p", "1080p"),
        inputs=_FRAMES,  # no reference images (third parties, S)
        max_prompt_chars=2000,
        audio=True,
        max_samples=4,  # `sampleCount` 1-4 (docs/providers.md §1.1)
        duration_rules=EIGHT_ONLY_HIGH_RES,
        # 0.05 at 720p and 0.08 at 1080p, sound included (docs/providers.md §7, S).
        price_usd_per_s=0.05,
        resolution_prices=(("1080p", 0.08, None),),
        price_source="third-party listings (videopromptkit, public catalog code), read 2026-12-01",
        at_risk="a preview model: Google may change or withdraw it at short notice",
    ),
)


def models(*, extend: bool) -> tuple[ModelSpec, ...]:
    """The table, with extension (the Extend button) offered when `extend`: Vertex extends a
    video it can read, and the bot only has one to give when results are written to Cloud
    Storage (VERTEX_OUTPUT_GCS_URI); an inline result leaves nothing to point at."""
    if not extend:
        return MODELS
    return tuple(
        dataclasses.replace(spec, inputs=spec.inputs | {InputKind.VIDEO}, can_extend=True)
        for spec in MODELS
    )
