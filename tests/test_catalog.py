"""The catalog decides what each model accepts; every refusal names the problem."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import pytest

from adapters.providers.local import MODELS as LOCAL_MODELS
from bot.catalog import MAX_SEED, Catalog, InputKind, ModelSpec, frame_size
from bot.errors import InvalidRequest
from bot.media import load_image
from bot.models import GenerationRequest
from tests.support import png_bytes

TEXT_ONLY = ModelSpec(
    provider="acme",
    id="acme-text",
    label="Text",
    durations=(8,),
    default_duration=8,
    aspect_ratios=("16:9",),
    resolutions=("720p", "1080p"),
    default_resolution="1080p",
    inputs=frozenset({InputKind.TEXT}),
    max_prompt_chars=50,
    negative_prompt=False,
)
IMAGE_ONLY = ModelSpec(
    provider="acme",
    id="acme-animate",
    label="Animate",
    durations=(5, 6, 7, 8),
    default_duration=5,
    aspect_ratios=("16:9", "9:16"),
    resolutions=("720p",),
    inputs=frozenset({InputKind.FIRST_FRAME}),
    max_prompt_chars=2000,
    requires_image=True,
    audio=True,
    cost_weight=2.0,
    default=True,
)
CATALOG = Catalog((*LOCAL_MODELS, TEXT_ONLY, IMAGE_ONLY))
IMAGE = load_image(png_bytes())


def refusal(request: GenerationRequest, provider: str = "local") -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        CATALOG.validate(request, provider=provider)
    return caught.value


def test_defaults_are_filled_from_the_model() -> None:
    valid = CATALOG.validate(GenerationRequest(prompt="  a cat  "), provider="local")
    assert valid.model == "local-preview"
    assert (valid.duration_s, valid.aspect_ratio, valid.resolution) == (5, "16:9", "720p")
    assert valid.prompt == "a cat"
    assert valid.seed is not None and 0 <= valid.seed <= MAX_SEED
    assert valid.audio is False


def test_the_default_model_is_the_one_marked_default() -> None:
    assert CATALOG.default_model("acme").id == "acme-animate"
    assert (
        CATALOG.validate(
            GenerationRequest(prompt="x", model="acme-text"), provider="acme"
        ).resolution
        == "1080p"
    )


def test_an_explicit_seed_is_kept() -> None:
    assert CATALOG.validate(GenerationRequest(prompt="x", seed=42), provider="local").seed == 42


@pytest.mark.parametrize(
    ("request_", "provider", "field", "words"),
    [
        (GenerationRequest(prompt="   "), "local", "prompt", "Write a prompt"),
        (
            GenerationRequest(prompt="x" * 2001),
            "local",
            "prompt",
            "The prompt is 2,001 characters long; local-preview takes at most 2,000",
        ),
        (
            GenerationRequest(prompt="x", duration_s=30),
            "local",
            "duration",
            "local-preview makes videos of 2 to 10 seconds, not 30",
        ),
        (
            GenerationRequest(prompt="x", duration_s=9, first_frame=IMAGE),
            "acme",
            "duration",
            "acme-animate makes videos of 5 to 8 seconds, not 9",
        ),
        (
            GenerationRequest(prompt="x", aspect_ratio="4:3"),
            "local",
            "aspect_ratio",
            "local-preview makes videos in 16:9, 9:16 or 1:1, not 4:3",
        ),
        (
            GenerationRequest(prompt="x", resolution="4k"),
            "local",
            "resolution",
            "renders at 720p, not 4k",
        ),
        (
            GenerationRequest(prompt="x", model="acme-text", first_frame=IMAGE),
            "acme",
            "image",
            "acme-text makes videos from text only. Remove the image, or pick a model that "
            "animates images: acme-animate",
        ),
        (GenerationRequest(prompt="x"), "acme", "image", "acme-animate animates an image"),
        (
            GenerationRequest(prompt="x", first_frame=IMAGE, last_frame=IMAGE),
            "acme",
            "end_image",
            "does not take a last frame",
        ),
        (
            GenerationRequest(prompt="x", reference_images=(IMAGE,)),
            "local",
            "references",
            "does not take reference images",
        ),
        (
            GenerationRequest(prompt="x", model="acme-text", negative_prompt="blur"),
            "acme",
            "negative_prompt",
            "does not take a negative prompt",
        ),
        (GenerationRequest(prompt="x", audio=True), "local", "audio", "does not make sound"),
        (GenerationRequest(prompt="x", seed=-1), "local", "seed", "from 0 to 4294967295"),
        (
            GenerationRequest(prompt="x", model="veo9"),
            "local",
            "model",
            "local has no model called 'veo9'. Pick one of: local-preview or local-draft",
        ),
        (GenerationRequest(prompt="x"), "nowhere", "provider", "There is no provider called"),
    ],
)
def test_impossible_requests_are_refused_in_plain_words(
    request_: GenerationRequest, provider: str, field: str, words: str
) -> None:
    error = refusal(request_, provider)
    assert error.field == field
    assert words in error.user_message


def test_cost_follows_the_model_weight() -> None:
    assert IMAGE_ONLY.cost_of(8) == 16
    assert LOCAL_MODELS[0].cost_of(8) == 8


def test_frame_sizes_are_720p_class_and_keep_the_aspect() -> None:
    assert frame_size("720p", "16:9") == (1280, 720)
    assert frame_size("720p", "9:16") == (720, 1280)
    assert frame_size("720p", "1:1") == (720, 720)
    with pytest.raises(InvalidRequest):
        frame_size("720p", "21:9")


def test_the_catalog_refuses_inconsistent_specs() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        Catalog((TEXT_ONLY, TEXT_ONLY))
    broken = ModelSpec(
        provider="x",
        id="y",
        label="y",
        durations=(4,),
        default_duration=8,
        aspect_ratios=("16:9",),
        resolutions=("720p",),
        inputs=frozenset({InputKind.TEXT}),
        max_prompt_chars=10,
    )
    with pytest.raises(ValueError, match="default duration"):
        Catalog((broken,))


# --- lifecycle ----------------------------------------------------------------------------

OLD = ModelSpec(
    provider="acme",
    id="acme-old",
    label="Old",
    durations=(8,),
    default_duration=8,
    aspect_ratios=("16:9",),
    resolutions=("720p",),
    inputs=frozenset({InputKind.TEXT}),
    max_prompt_chars=50,
    retired_on="2026-06-30",
    retired_by="Acme",
    replacement="acme-text",
)
GONE_DEFAULT = ModelSpec(
    provider="gone",
    id="gone-1",
    label="Gone",
    durations=(8,),
    default_duration=8,
    aspect_ratios=("16:9",),
    resolutions=("720p",),
    inputs=frozenset({InputKind.TEXT}),
    max_prompt_chars=50,
    retired_on="2026-03-09",
    default=True,
)
LIFECYCLE = Catalog((*LOCAL_MODELS, OLD, TEXT_ONLY, IMAGE_ONLY, GONE_DEFAULT))


def test_retired_models_are_listed_only_when_asked_for() -> None:
    assert [m.id for m in LIFECYCLE.models("acme")] == ["acme-text", "acme-animate"]
    assert [m.id for m in LIFECYCLE.models("acme", retired=True)] == [
        "acme-old",
        "acme-text",
        "acme-animate",
    ]
    assert LIFECYCLE.models("gone") == []


def test_a_retired_model_is_refused_with_its_date_and_replacement() -> None:
    with pytest.raises(InvalidRequest) as refused:
        LIFECYCLE.validate(GenerationRequest(prompt="x", model="acme-old"), provider="acme")
    assert refused.value.field == "model"
    assert refused.value.user_message == (
        "Old (acme-old) was retired by Acme on 2026-06-30; use acme-text instead."
    )


def test_without_a_replacement_the_providers_live_default_is_named() -> None:
    unnamed = Catalog((dataclasses.replace(OLD, replacement=None), TEXT_ONLY, IMAGE_ONLY))
    with pytest.raises(InvalidRequest) as refused:
        unnamed.get("acme", "acme-old")
    assert refused.value.user_message == (
        "Old (acme-old) was retired by Acme on 2026-06-30; use acme-animate instead."
    )


def test_a_provider_whose_models_are_all_retired_has_no_default() -> None:
    with pytest.raises(InvalidRequest) as refused:
        LIFECYCLE.validate(GenerationRequest(prompt="x"), provider="gone")
    assert refused.value.user_message == (
        "gone has no model in service any more: Gone (gone-1) was retired on 2026-03-09; "
        "pick another provider's model."
    )


def test_the_default_skips_retired_models() -> None:
    first_retired = Catalog((OLD, TEXT_ONLY))
    assert first_retired.default_model("acme").id == "acme-text"


def test_replace_models_swaps_one_providers_models_all_or_nothing() -> None:
    catalog = Catalog((TEXT_ONLY, IMAGE_ONLY, *LOCAL_MODELS))
    fresh = replace(TEXT_ONLY, id="acme-fresh", durations=(4, 8), default=True)

    catalog.replace_models("acme", [fresh])

    assert catalog.models("acme") == [fresh]
    assert catalog.get("acme", None) is fresh
    assert catalog.models("local") == list(LOCAL_MODELS)
    with pytest.raises(InvalidRequest, match="no model called 'acme-text'"):
        catalog.get("acme", "acme-text")
    broken = replace(TEXT_ONLY, id="acme-broken", default_duration=9)
    for refused, words in (
        ([replace(fresh, id="acme-other"), broken], "default duration 9 not offered"),
        ([LOCAL_MODELS[0]], "takes that provider's models only"),
        ([], "takes that provider's models only"),
    ):
        with pytest.raises(ValueError, match=words):
            catalog.replace_models("acme", refused)
        assert catalog.models("acme") == [fresh]
