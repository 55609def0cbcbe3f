"""The model catalog: the single source of truth for what each model accepts.

Validation, slash-command choices, autocomplete and help text all read `ModelSpec`s from here;
nothing else hard-codes durations, aspect ratios, resolutions or input kinds.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.errors import InvalidRequest
from bot.models import GenerationRequest

MAX_SEED = 2**32 - 1


class InputKind(enum.StrEnum):
    TEXT = "text"
    FIRST_FRAME = "first_frame"
    LAST_FRAME = "last_frame"
    REFERENCES = "references"
    VIDEO = "video"


# Pixel sizes per resolution class and aspect ratio; renderers and re-encoders read these.
_FRAME_SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "360p": {"16:9": (640, 360), "9:16": (360, 640), "1:1": (360, 360)},
    "720p": {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (720, 720)},
    "1080p": {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)},
    "4k": {"16:9": (3840, 2160), "9:16": (2160, 3840), "1:1": (2160, 2160)},
}


def frame_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """Width and height in pixels for a resolution class and aspect ratio."""
    try:
        return _FRAME_SIZES[resolution][aspect_ratio]
    except KeyError:
        raise InvalidRequest(
            f"There is no frame size for {resolution} at {aspect_ratio}.", field="resolution"
        ) from None


@dataclass(frozen=True, slots=True)
class DurationRule:
    """Durations narrowed by a condition: `when` is "image", "references" or a resolution."""

    when: str
    durations: tuple[int, ...]

    def applies(self, *, resolution: str, has_image: bool, has_references: bool) -> bool:
        if self.when == "image":
            return has_image
        if self.when == "references":
            return has_references
        return self.when == resolution

    @property
    def phrase(self) -> str:
        if self.when == "image":
            return "from an image"
        if self.when == "references":
            return "with reference images"
        return f"at {self.when}"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    provider: str
    id: str
    label: str
    durations: tuple[int, ...]
    default_duration: int
    aspect_ratios: tuple[str, ...]
    resolutions: tuple[str, ...]
    inputs: frozenset[InputKind]
    max_prompt_chars: int
    default_aspect_ratio: str = "16:9"
    default_resolution: str | None = None
    requires_image: bool = False
    max_references: int = 0
    min_references: int = 1
    audio: bool = False
    negative_prompt: bool = True
    seed: bool = True
    cost_weight: float = 1.0
    can_extend: bool = False
    duration_rules: tuple[DurationRule, ...] = ()
    description: str = ""
    default: bool = field(default=False, compare=False)

    @property
    def resolution(self) -> str:
        return self.default_resolution or self.resolutions[0]

    def takes(self, kind: InputKind) -> bool:
        return kind in self.inputs

    def durations_for(
        self, *, resolution: str, has_image: bool, has_references: bool
    ) -> tuple[tuple[int, ...], list[DurationRule]]:
        """The durations offered under these conditions, and the rules that narrowed them."""
        allowed = self.durations
        narrowing = []
        for rule in self.duration_rules:
            if rule.applies(
                resolution=resolution, has_image=has_image, has_references=has_references
            ):
                allowed = tuple(d for d in allowed if d in rule.durations)
                narrowing.append(rule)
        return allowed, narrowing

    def cost_of(self, duration_s: int) -> float:
        """Quota seconds charged for a video of this length."""
        return round(duration_s * self.cost_weight, 3)


def _seconds(values: Sequence[int]) -> str:
    items = [str(v) for v in values]
    if len(items) > 2 and list(values) == list(range(values[0], values[-1] + 1)):
        return f"{items[0]} to {items[-1]} seconds"
    return (", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else items[0]) + " seconds"


def _choices(values: Sequence[str]) -> str:
    return ", ".join(values[:-1]) + " or " + values[-1] if len(values) > 1 else values[0]


class Catalog:
    def __init__(self, specs: Iterable[ModelSpec]) -> None:
        self._specs: dict[tuple[str, str], ModelSpec] = {}
        for spec in specs:
            key = (spec.provider, spec.id)
            if key in self._specs:
                raise ValueError(f"model {spec.provider}/{spec.id} registered twice")
            if spec.default_duration not in spec.durations:
                raise ValueError(f"{spec.id}: default duration {spec.default_duration} not offered")
            if spec.default_aspect_ratio not in spec.aspect_ratios:
                raise ValueError(
                    f"{spec.id}: default aspect {spec.default_aspect_ratio} not offered"
                )
            self._specs[key] = spec

    def specs(self) -> list[ModelSpec]:
        return list(self._specs.values())

    def providers(self) -> list[str]:
        return sorted({p for p, _ in self._specs})

    def models(self, provider: str) -> list[ModelSpec]:
        return [s for (p, _), s in self._specs.items() if p == provider]

    def default_model(self, provider: str) -> ModelSpec:
        models = self.models(provider)
        if not models:
            raise InvalidRequest(
                f"There is no provider called {provider!r}. "
                f"Pick one of: {_choices(self.providers())}.",
                field="provider",
            )
        return next((m for m in models if m.default), models[0])

    def get(self, provider: str, model: str | None) -> ModelSpec:
        if model is None:
            return self.default_model(provider)
        spec = self._specs.get((provider, model))
        if spec is None:
            known = [m.id for m in self.models(provider)]
            if not known:
                self.default_model(provider)  # raises the unknown-provider message
            raise InvalidRequest(
                f"{provider} has no model called {model!r}. Pick one of: {_choices(known)}.",
                field="model",
            )
        return spec

    def validate(self, request: GenerationRequest, *, provider: str) -> GenerationRequest:
        """Check a request against its model and fill every default, seed included.

        Raises `InvalidRequest` naming the first thing that is wrong, in plain words."""
        spec = self.get(provider, request.model)
        name = spec.id
        prompt = request.prompt.strip()
        if not prompt:
            raise InvalidRequest(
                "Write a prompt: describe what should happen in the video.", field="prompt"
            )
        if len(prompt) > spec.max_prompt_chars:
            raise InvalidRequest(
                f"The prompt is {len(prompt):,} characters long; {name} takes at most "
                f"{spec.max_prompt_chars:,}. Shorten it and try again.",
                field="prompt",
            )
        aspect = request.aspect_ratio or spec.default_aspect_ratio
        if aspect not in spec.aspect_ratios:
            raise InvalidRequest(
                f"{name} makes videos in {_choices(spec.aspect_ratios)}, not {aspect}.",
                field="aspect_ratio",
            )
        resolution = request.resolution or spec.resolution
        if resolution not in spec.resolutions:
            raise InvalidRequest(
                f"{name} renders at {_choices(spec.resolutions)}, not {resolution}.",
                field="resolution",
            )
        has_image = request.first_frame is not None or request.last_frame is not None
        if request.first_frame is not None and not spec.takes(InputKind.FIRST_FRAME):
            raise InvalidRequest(
                f"{name} makes videos from text only. Remove the image, or pick a model "
                f"that animates images: {_choices(self._image_models(provider))}.",
                field="image",
            )
        if request.last_frame is not None and not spec.takes(InputKind.LAST_FRAME):
            raise InvalidRequest(
                f"{name} does not take a last frame. Remove it, or pick a model that does.",
                field="end_image",
            )
        if request.reference_images:
            if not spec.takes(InputKind.REFERENCES):
                raise InvalidRequest(f"{name} does not take reference images.", field="references")
            count = len(request.reference_images)
            if not spec.min_references <= count <= spec.max_references:
                raise InvalidRequest(
                    f"{name} takes {spec.min_references} to {spec.max_references} reference "
                    f"images, not {count}.",
                    field="references",
                )
        if request.source_video is not None and not spec.takes(InputKind.VIDEO):
            raise InvalidRequest(f"{name} cannot extend a video.", field="video")
        if spec.requires_image and not has_image:
            raise InvalidRequest(f"{name} animates an image: attach a first frame.", field="image")
        if not has_image and not request.reference_images and not spec.takes(InputKind.TEXT):
            raise InvalidRequest(f"{name} needs an image to animate.", field="image")
        allowed, narrowing = spec.durations_for(
            resolution=resolution,
            has_image=has_image,
            has_references=bool(request.reference_images),
        )
        if request.duration_s is None:
            duration = spec.default_duration if spec.default_duration in allowed else allowed[-1]
        else:
            duration = request.duration_s
        if duration not in allowed:
            condition = " ".join(rule.phrase for rule in narrowing)
            raise InvalidRequest(
                f"{name} makes videos{' ' + condition if condition else ''} of "
                f"{_seconds(allowed)}, not {duration}.",
                field="duration",
            )
        if request.negative_prompt and not spec.negative_prompt:
            raise InvalidRequest(
                f"{name} does not take a negative prompt.", field="negative_prompt"
            )
        if request.negative_prompt and len(request.negative_prompt) > spec.max_prompt_chars:
            raise InvalidRequest(
                f"The negative prompt is longer than the {spec.max_prompt_chars:,} "
                f"characters {name} takes.",
                field="negative_prompt",
            )
        if request.audio and not spec.audio:
            raise InvalidRequest(f"{name} does not make sound; turn audio off.", field="audio")
        seed = request.seed
        if seed is not None and not spec.seed:
            raise InvalidRequest(f"{name} does not take a seed; leave it out.", field="seed")
        if seed is not None and not 0 <= seed <= MAX_SEED:
            raise InvalidRequest(
                f"The seed must be a whole number from 0 to {MAX_SEED}.", field="seed"
            )
        if seed is None and spec.seed:
            seed = secrets.randbelow(MAX_SEED + 1)
        return request.model_copy(
            update={
                "prompt": prompt,
                "provider": provider,
                "model": spec.id,
                "duration_s": duration,
                "aspect_ratio": aspect,
                "resolution": resolution,
                "seed": seed,
                "audio": bool(request.audio) if spec.audio else False,
            }
        )

    def _image_models(self, provider: str) -> list[str]:
        return [m.id for m in self.models(provider) if m.takes(InputKind.FIRST_FRAME)] or ["none"]


LOCAL_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        provider="local",
        id="local-preview",
        label="Local preview (720p)",
        description="Embedded preview renderer: camera motion over your image, not AI.",
        durations=tuple(range(2, 11)),
        default_duration=5,
        aspect_ratios=("16:9", "9:16", "1:1"),
        resolutions=("720p",),
        inputs=frozenset({InputKind.TEXT, InputKind.FIRST_FRAME, InputKind.LAST_FRAME}),
        max_prompt_chars=2000,
        default=True,
    ),
    ModelSpec(
        provider="local",
        id="local-draft",
        label="Local draft (360p)",
        description="Embedded preview renderer at 360p: fastest, for trying settings.",
        durations=tuple(range(2, 11)),
        default_duration=5,
        aspect_ratios=("16:9", "9:16", "1:1"),
        resolutions=("360p",),
        inputs=frozenset({InputKind.TEXT, InputKind.FIRST_FRAME, InputKind.LAST_FRAME}),
        max_prompt_chars=2000,
    ),
)


_T, _F, _L, _R, _V = (
    InputKind.TEXT,
    InputKind.FIRST_FRAME,
    InputKind.LAST_FRAME,
    InputKind.REFERENCES,
    InputKind.VIDEO,
)
_WIDE_TALL = ("16:9", "9:16")
_EIGHT_ONLY_HIGH_RES = (DurationRule("1080p", (8,)), DurationRule("4k", (8,)))

# useapi.net LTX Studio: seeds 000 (veo-create) and 001 (ltx-create); PROVIDERS.md 1.5-1.6.
USEAPI_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        provider="useapi",
        id="veo2",
        label="Veo 2 (LTX Studio)",
        description="Google Veo 2 through LTX Studio: animates a first frame.",
        durations=(5, 6, 7, 8),
        default_duration=5,
        aspect_ratios=("16:9", "9:16", "1:1"),
        resolutions=("720p",),
        inputs=frozenset({_F}),
        requires_image=True,
        max_prompt_chars=2000,
        audio=True,
        negative_prompt=False,
        default=True,
    ),
    ModelSpec(
        provider="useapi",
        id="veo3",
        label="Veo 3 (LTX Studio)",
        description="Google Veo 3 with native sound, from text or a first frame.",
        durations=(8,),
        default_duration=8,
        aspect_ratios=("16:9",),
        resolutions=("1080p", "720p"),
        inputs=frozenset({_T, _F}),
        max_prompt_chars=2000,
        audio=True,
        negative_prompt=False,
    ),
    ModelSpec(
        provider="useapi",
        id="veo3-fast",
        label="Veo 3 Fast (LTX Studio)",
        description="Google Veo 3 Fast: text to video.",
        durations=(8,),
        default_duration=8,
        aspect_ratios=("16:9",),
        resolutions=("1080p", "720p"),
        inputs=frozenset({_T}),
        max_prompt_chars=2000,
        audio=True,
        negative_prompt=False,
    ),
    ModelSpec(
        provider="useapi",
        id="ltxv-turbo",
        label="LTX-Video Turbo",
        description="LTX-Video, fast: animates a first and/or last frame.",
        durations=(3, 5, 7, 9, 15, 30),
        default_duration=3,
        aspect_ratios=("16:9", "9:16", "1:1"),
        resolutions=("720p",),
        inputs=frozenset({_F, _L}),
        requires_image=True,
        max_prompt_chars=2000,
        audio=True,
        negative_prompt=False,
    ),
    ModelSpec(
        provider="useapi",
        id="ltxv",
        label="LTX-Video",
        description="LTX-Video: animates a first and/or last frame.",
        durations=(3, 5, 7, 9, 15, 30),
        default_duration=3,
        aspect_ratios=("16:9", "9:16", "1:1"),
        resolutions=("720p",),
        inputs=frozenset({_F, _L}),
        requires_image=True,
        max_prompt_chars=2000,
        audio=True,
        negative_prompt=False,
    ),
)

# An OpenAI-style gateway, dialect "images": seed 002; PROVIDERS.md 2.2.
GATEWAY_IMAGES_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        provider="gateway",
        id="veo-3.1-fast-generate-preview",
        label="Veo 3.1 Fast",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=_WIDE_TALL,
        resolutions=("720p", "1080p", "4k"),
        inputs=frozenset({_T, _F}),
        max_prompt_chars=5000,
        negative_prompt=False,
        seed=False,
        duration_rules=(DurationRule("image", (8,)),),
        default=True,
    ),
    ModelSpec(
        provider="gateway",
        id="veo-3.1-generate-preview",
        label="Veo 3.1",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=_WIDE_TALL,
        resolutions=("720p", "1080p", "4k"),
        inputs=frozenset({_T, _F}),
        max_prompt_chars=5000,
        negative_prompt=False,
        seed=False,
        duration_rules=(DurationRule("image", (8,)),),
    ),
    ModelSpec(
        provider="gateway",
        id="veo-3.0-fast-generate-001",
        label="Veo 3 Fast",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=_WIDE_TALL,
        resolutions=("720p", "1080p", "4k"),
        inputs=frozenset({_T, _F}),
        max_prompt_chars=5000,
        negative_prompt=False,
        seed=False,
    ),
    ModelSpec(
        provider="gateway",
        id="veo-3.0-generate-001",
        label="Veo 3",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=_WIDE_TALL,
        resolutions=("720p", "1080p", "4k"),
        inputs=frozenset({_T, _F}),
        max_prompt_chars=5000,
        negative_prompt=False,
        seed=False,
    ),
    ModelSpec(
        provider="gateway",
        id="veo-2.0-generate-001",
        label="Veo 2",
        durations=(5, 6, 7, 8),
        default_duration=8,
        aspect_ratios=_WIDE_TALL,
        resolutions=("720p",),
        inputs=frozenset({_T, _F}),
        max_prompt_chars=5000,
        negative_prompt=False,
        seed=False,
    ),
)


def _veo31_gateway(resolution: str, *, fast: bool) -> ModelSpec:
    kind = "fast-video" if fast else "video"
    return ModelSpec(
        provider="gateway",
        id=f"veo3.1-{kind}-{resolution}",
        label=f"Veo 3.1{' Fast' if fast else ''} {resolution}",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=_WIDE_TALL,
        resolutions=(resolution,),
        inputs=frozenset({_T, _F, _L, _V} if fast else {_T, _F, _L, _R, _V}),
        max_references=0 if fast else 3,
        min_references=2,
        max_prompt_chars=5000,
        audio=True,
        can_extend=True,
        default=fast and resolution == "720p",
    )


# An OpenAI-style gateway, dialect "veo31": seed 004; PROVIDERS.md 2.2.
GATEWAY_VEO31_MODELS: tuple[ModelSpec, ...] = tuple(
    _veo31_gateway(resolution, fast=fast)
    for fast in (True, False)
    for resolution in ("720p", "1080p", "4k")
)

# AIML API: seed 003; PROVIDERS.md 3.1.
AIMLAPI_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        provider="aimlapi",
        id="veo2",
        label="Veo 2 (AIML API)",
        description="Google Veo 2 from text.",
        durations=(5, 6, 7, 8),
        default_duration=5,
        aspect_ratios=_WIDE_TALL,
        resolutions=("720p",),
        inputs=frozenset({_T}),
        max_prompt_chars=2000,
        default=True,
    ),
    ModelSpec(
        provider="aimlapi",
        id="veo2/image-to-video",
        label="Veo 2 image-to-video (AIML API)",
        description="Google Veo 2 animating a first frame, optionally towards a last frame.",
        durations=(5, 6, 7, 8),
        default_duration=5,
        aspect_ratios=_WIDE_TALL,
        resolutions=("720p",),
        inputs=frozenset({_F, _L}),
        requires_image=True,
        max_prompt_chars=2000,
    ),
)

# Google Gemini API (Veo): PROVIDERS.md 4.2. The Developer API takes no seed and no audio flag.
GEMINI_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        provider="gemini",
        id="veo-3.1-fast-generate-preview",
        label="Veo 3.1 Fast",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=_WIDE_TALL,
        resolutions=("720p", "1080p", "4k"),
        inputs=frozenset({_T, _F, _L, _V}),
        max_prompt_chars=2000,
        seed=False,
        can_extend=True,
        duration_rules=_EIGHT_ONLY_HIGH_RES,
        default=True,
    ),
    ModelSpec(
        provider="gemini",
        id="veo-3.1-generate-preview",
        label="Veo 3.1",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=_WIDE_TALL,
        resolutions=("720p", "1080p", "4k"),
        inputs=frozenset({_T, _F, _L, _R, _V}),
        max_references=3,
        max_prompt_chars=2000,
        seed=False,
        can_extend=True,
        duration_rules=(*_EIGHT_ONLY_HIGH_RES, DurationRule("references", (8,))),
    ),
    ModelSpec(
        provider="gemini",
        id="veo-3.0-generate-001",
        label="Veo 3",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=_WIDE_TALL,
        resolutions=("720p", "1080p"),
        inputs=frozenset({_T, _F}),
        max_prompt_chars=2000,
        seed=False,
        duration_rules=_EIGHT_ONLY_HIGH_RES,
    ),
    ModelSpec(
        provider="gemini",
        id="veo-3.0-fast-generate-001",
        label="Veo 3 Fast",
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=_WIDE_TALL,
        resolutions=("720p", "1080p"),
        inputs=frozenset({_T, _F}),
        max_prompt_chars=2000,
        seed=False,
        duration_rules=_EIGHT_ONLY_HIGH_RES,
    ),
    ModelSpec(
        provider="gemini",
        id="veo-2.0-generate-001",
        label="Veo 2",
        durations=(5, 6, 7, 8),
        default_duration=8,
        aspect_ratios=_WIDE_TALL,
        resolutions=("720p",),
        inputs=frozenset({_T, _F}),
        max_prompt_chars=2000,
        seed=False,
    ),
)


def default_catalog(gateway_dialect: str = "images") -> Catalog:
    """Every model of every provider; the gateway's models follow its request dialect."""
    gateway = GATEWAY_VEO31_MODELS if gateway_dialect == "veo31" else GATEWAY_IMAGES_MODELS
    return Catalog((*LOCAL_MODELS, *USEAPI_MODELS, *gateway, *AIMLAPI_MODELS, *GEMINI_MODELS))
