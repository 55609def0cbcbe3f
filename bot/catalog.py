"""The model catalog: the single source of truth for what each model accepts.

Validation, slash-command choices, autocomplete and help text all read `ModelSpec`s from here;
nothing else hard-codes durations, aspect ratios, resolutions or input kinds.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot import i18n, money
from bot.errors import InvalidRequest
from bot.i18n import _, ngettext
from bot.models import GenerationRequest
from bot.variants import MAX_TAKES, count_out_of_range

MAX_SEED = 2**32 - 1


class InputKind(enum.StrEnum):
    """The kinds of input a model takes: text, a first or a last frame, reference images."""

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
            _("There is no frame size for {resolution} at {aspect_ratio}.").format(
                resolution=resolution, aspect_ratio=aspect_ratio
            ),
            field="resolution",
        ) from None


@dataclass(frozen=True, slots=True)
class DurationRule:
    """Durations narrowed by a condition: `when` is "image", "references" or a resolution."""

    when: str
    durations: tuple[int, ...]

    def applies(self, *, resolution: str, has_image: bool, has_references: bool) -> bool:
        """Whether this rule narrows the durations of a request with these inputs."""
        if self.when == "image":
            return has_image
        if self.when == "references":
            return has_references
        return self.when == resolution

    @property
    def phrase(self) -> str:
        """The condition in words, for refusals ("from an image", "at 1080p")."""
        if self.when == "image":
            return _("from an image")
        if self.when == "references":
            return _("with reference images")
        return _("at {resolution}").format(resolution=self.when)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model people can pick: its provider, id, label and what it takes and makes."""

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
    # Takes one job can make at once (Vertex `sampleCount`): a request for up to this many
    # variants is one job; more (or a model that makes one) become a job per take.
    max_samples: int = 1
    duration_rules: tuple[DurationRule, ...] = ()
    description: str = ""
    default: bool = field(default=False, compare=False)
    # What one second of video costs at the provider, in US dollars (None: not known); with
    # sound when that is priced apart. The table that sets it says where the price comes from.
    price_usd_per_s: float | None = None
    price_usd_per_s_audio: float | None = None
    # Resolutions priced apart: (resolution, without sound, with sound or None).
    resolution_prices: tuple[tuple[str, float, float | None], ...] = ()
    # Where the price comes from and when it was read ("fal.ai model page, 2026-12-01").
    price_source: str | None = None
    # Lifecycle: the day (ISO date) the provider stopped serving the model, and what to use
    # instead; `at_risk` says in a few words why a live model may go soon.
    retired_on: str | None = None
    replacement: str | None = None
    at_risk: str | None = None
    # Who retired it, for the sentence people read ("retired by Google on ...").
    retired_by: str | None = None

    @property
    def retired(self) -> bool:
        """Whether the provider has retired it (kept for listings and old jobs only)."""
        return self.retired_on is not None

    @property
    def resolution(self) -> str:
        """The resolution it makes unless asked otherwise."""
        return self.default_resolution or self.resolutions[0]

    def takes(self, kind: InputKind) -> bool:
        """Whether it takes this kind of input."""
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

    def price_micro_usd(
        self, duration_s: int, *, audio: bool = False, resolution: str | None = None
    ) -> int | None:
        """What a video of this length costs at the provider, in whole micro-dollars; None
        when the price is not known (never guessed). With sound, the price with sound when it
        is priced apart; else sound is included."""
        silent, sound = self.price_usd_per_s, self.price_usd_per_s_audio
        for res, res_silent, res_sound in self.resolution_prices:
            if res == (resolution or self.resolution):
                silent, sound = res_silent, res_sound
        per_s = money.price_per_s(sound if audio and sound is not None else silent)
        return None if per_s is None else money.to_micro(per_s * duration_s)


def _seconds(values: Sequence[int]) -> str:
    items = [str(v) for v in values]
    if len(items) > 2 and list(values) == list(range(values[0], values[-1] + 1)):
        return _("{first} to {last} seconds").format(first=items[0], last=items[-1])
    return ngettext("{seconds} second", "{seconds} seconds", values[-1] if values else 0).format(
        seconds=_choices(items)
    )


def _choices(values: Sequence[str]) -> str:
    if len(values) < 2:
        return values[0]
    return _("{choices} or {last}").format(choices=", ".join(values[:-1]), last=values[-1])


class Catalog:
    """Every model of every provider, checked for consistency, to validate and offer models."""

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

    def replace_models(self, provider: str, specs: Iterable[ModelSpec]) -> None:
        """Offer exactly `specs` for `provider` from now on, in place of its earlier models:
        for providers that list their models at run time. All or nothing: an inconsistent
        spec raises `ValueError` and leaves the catalog as it was."""
        fresh = Catalog(specs).specs()  # the same checks as the models known at start
        if not fresh or any(spec.provider != provider for spec in fresh):
            raise ValueError(f"replace_models({provider!r}) takes that provider's models only")
        kept = {key: spec for key, spec in self._specs.items() if key[0] != provider}
        self._specs = kept | {(spec.provider, spec.id): spec for spec in fresh}

    def specs(self) -> list[ModelSpec]:
        """Every model, retired ones included, in catalog order."""
        return list(self._specs.values())

    def providers(self) -> list[str]:
        """The names of the providers that have models, sorted."""
        return sorted({p for p, _ in self._specs})

    def models(self, provider: str, *, retired: bool = False) -> list[ModelSpec]:
        """The models people can pick: live ones only, unless `retired` (for listings)."""
        return [
            s for (p, _), s in self._specs.items() if p == provider and (retired or not s.retired)
        ]

    def offered(
        self, providers: Iterable[str], *, first: str | None = None, retired: bool = False
    ) -> list[ModelSpec]:
        """The models people are offered (Discord's autocomplete and forms, Slack's form and
        help, `veo-bot models`): those of `providers`, the provider `first` (the default one)
        leading and the rest by name, each provider's in catalog order; live models only,
        unless `retired` (for listings)."""
        order = sorted(set(providers), key=lambda name: (name != first, name))
        return [spec for name in order for spec in self.models(name, retired=retired)]

    def default_model(self, provider: str) -> ModelSpec:
        """The provider's default among its live models."""
        every = self.models(provider, retired=True)
        if not every:
            raise InvalidRequest(
                _("There is no provider called {typed}. Pick one of: {choices}.").format(
                    typed=repr(provider), choices=_choices(self.providers())
                ),
                field="provider",
            )
        live = [m for m in every if not m.retired]
        if not live:
            gone = next((m for m in every if m.default), every[0])
            raise InvalidRequest(
                _("{provider} has no model in service any more: {retirement}").format(
                    provider=provider, retirement=self.retirement(gone)
                ),
                field="provider",
            )
        return next((m for m in live if m.default), live[0])

    def get(self, provider: str, model: str | None) -> ModelSpec:
        """The model to run; refuses a retired one with `retirement`'s sentence."""
        if model is None:
            return self.default_model(provider)
        spec = self._specs.get((provider, model))
        if spec is None:
            known = [m.id for m in self.models(provider)]
            if not self.models(provider, retired=True):
                self.default_model(provider)  # raises the unknown-provider message
            raise InvalidRequest(
                _("{provider} has no model called {typed}. Pick one of: {choices}.").format(
                    provider=provider, typed=repr(model), choices=_choices(known)
                ),
                field="model",
            )
        if spec.retired:
            raise InvalidRequest(self.retirement(spec), field="model")
        return spec

    def retirement(self, spec: ModelSpec) -> str:
        """One sentence: when the model went, and what to use instead. For a model the
        catalog still thinks live (its provider said it is gone) the date is left out."""
        instead = self.replacement_for(spec)
        advice = (
            _("use {model} instead").format(model=instead)
            if instead
            else _("pick another provider's model")
        )
        by, on = spec.retired_by, spec.retired_on
        if by and on:
            sentence = _("{label} ({model}) was retired by {by} on {on}; {advice}.")
        elif by:
            sentence = _("{label} ({model}) was retired by {by}; {advice}.")
        elif on:
            sentence = _("{label} ({model}) was retired on {on}; {advice}.")
        else:
            sentence = _("{label} ({model}) was retired; {advice}.")
        return sentence.format(label=spec.label, model=spec.id, by=by, on=on, advice=advice)

    def replacement_for(self, spec: ModelSpec) -> str | None:
        """What to use instead of a model: its own replacement, else its provider's live
        default (when that is another model), else None."""
        if spec.replacement is not None:
            return spec.replacement
        live = [m for m in self.models(spec.provider) if m.id != spec.id]
        default = next((m for m in live if m.default), live[0] if live else None)
        return default.id if default is not None else None

    def validate(self, request: GenerationRequest, *, provider: str) -> GenerationRequest:
        """Check a request against its model and fill every default, seed included.

        Raises `InvalidRequest` naming the first thing that is wrong, in plain words."""
        spec = self.get(provider, request.model)
        name = spec.id
        prompt = request.prompt.strip()
        if not prompt:
            raise InvalidRequest(
                _("Write a prompt: describe what should happen in the video."), field="prompt"
            )
        if len(prompt) > spec.max_prompt_chars:
            raise InvalidRequest(
                _(
                    "The prompt is {length} characters long; {name} takes at most {most}. "
                    "Shorten it and try again."
                ).format(
                    length=i18n.whole(len(prompt)),
                    name=name,
                    most=i18n.whole(spec.max_prompt_chars),
                ),
                field="prompt",
            )
        aspect = request.aspect_ratio or spec.default_aspect_ratio
        if aspect not in spec.aspect_ratios:
            raise InvalidRequest(
                _("{name} makes videos in {choices}, not {aspect}.").format(
                    name=name, choices=_choices(spec.aspect_ratios), aspect=aspect
                ),
                field="aspect_ratio",
            )
        resolution = request.resolution or spec.resolution
        if resolution not in spec.resolutions:
            raise InvalidRequest(
                _("{name} renders at {choices}, not {resolution}.").format(
                    name=name, choices=_choices(spec.resolutions), resolution=resolution
                ),
                field="resolution",
            )
        has_image = request.first_frame is not None or request.last_frame is not None
        if request.first_frame is not None and not spec.takes(InputKind.FIRST_FRAME):
            raise InvalidRequest(
                _(
                    "{name} makes videos from text only. Remove the image, or pick a model "
                    "that animates images: {choices}."
                ).format(name=name, choices=_choices(self._image_models(provider))),
                field="image",
            )
        if request.last_frame is not None and not spec.takes(InputKind.LAST_FRAME):
            raise InvalidRequest(
                _(
                    "{name} does not take a last frame. Remove it, or pick a model that does."
                ).format(name=name),
                field="end_image",
            )
        if request.reference_images:
            if not spec.takes(InputKind.REFERENCES):
                raise InvalidRequest(
                    _("{name} does not take reference images.").format(name=name),
                    field="references",
                )
            count = len(request.reference_images)
            if not spec.min_references <= count <= spec.max_references:
                raise InvalidRequest(
                    _(
                        "{name} takes {min_references} to {max_references} reference images, not "
                        "{count}."
                    ).format(
                        name=name,
                        min_references=spec.min_references,
                        max_references=spec.max_references,
                        count=count,
                    ),
                    field="references",
                )
        if request.source_video is not None and not spec.takes(InputKind.VIDEO):
            raise InvalidRequest(
                _("{name} cannot extend a video.").format(name=name), field="video"
            )
        if spec.requires_image and not has_image:
            raise InvalidRequest(
                _("{name} animates an image: attach a first frame.").format(name=name),
                field="image",
            )
        if not has_image and not request.reference_images and not spec.takes(InputKind.TEXT):
            raise InvalidRequest(
                _("{name} needs an image to animate.").format(name=name), field="image"
            )
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
            sentence = (
                _("{name} makes videos {condition} of {durations}, not {duration}.")
                if condition
                else _("{name} makes videos of {durations}, not {duration}.")
            )
            raise InvalidRequest(
                sentence.format(
                    name=name, condition=condition, durations=_seconds(allowed), duration=duration
                ),
                field="duration",
            )
        if request.negative_prompt and not spec.negative_prompt:
            raise InvalidRequest(
                _("{name} does not take a negative prompt.").format(name=name),
                field="negative_prompt",
            )
        if request.negative_prompt and len(request.negative_prompt) > spec.max_prompt_chars:
            raise InvalidRequest(
                _("The negative prompt is longer than the {most} characters {name} takes.").format(
                    most=i18n.whole(spec.max_prompt_chars), name=name
                ),
                field="negative_prompt",
            )
        if request.audio and not spec.audio:
            raise InvalidRequest(
                _("{name} does not make sound; turn audio off.").format(name=name), field="audio"
            )
        if not 1 <= request.count <= MAX_TAKES:
            raise InvalidRequest(count_out_of_range(request.count), field="count")
        seed = request.seed
        if seed is not None and not spec.seed:
            raise InvalidRequest(
                _("{name} does not take a seed; leave it out.").format(name=name), field="seed"
            )
        if seed is not None and not 0 <= seed <= MAX_SEED:
            raise InvalidRequest(
                _("The seed must be a whole number from 0 to {max_seed}.").format(
                    max_seed=MAX_SEED
                ),
                field="seed",
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


# Aspect ratios and duration rules many models share.
WIDE_TALL: tuple[str, ...] = ("16:9", "9:16")
EIGHT_ONLY_HIGH_RES: tuple[DurationRule, ...] = (
    DurationRule("1080p", (8,)),
    DurationRule("4k", (8,)),
)
