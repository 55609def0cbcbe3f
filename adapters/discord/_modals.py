"""The forms the bot opens: the prompt (and optional settings) for "Animate with Veo", and the
continuation prompt for Extend."""

from __future__ import annotations

import logging
from typing import Any

import discord

from adapters.discord._actions import ModalFields, VeoActions
from adapters.discord._client import speak_to
from adapters.discord._replies import answer_error
from bot import texts
from bot.catalog import ModelSpec
from bot.i18n import N_, _
from bot.models import GenerationRequest

log = logging.getLogger(__name__)

_OPTIONS_MAX = 25
_PROMPT_MAX = 4000  # Discord's limit for a text input


class _VeoModal(discord.ui.Modal):
    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        await speak_to(interaction)  # the submission is answered in the reader's language
        return True

    async def on_error(  # type: ignore[override]  # Modal drops BaseView's `item`
        self, interaction: discord.Interaction[Any], error: Exception, /
    ) -> None:
        await answer_error(interaction, error)


class AnimateModal(_VeoModal, title=N_("Animate with Veo")):
    def __init__(
        self,
        veo: VeoActions,
        message: discord.Message,
        image: discord.Attachment,
        models: list[tuple[str, ModelSpec]],
    ) -> None:
        super().__init__(title=_("Animate with Veo"), timeout=15 * 60)
        self._veo = veo
        self._message = message
        self._image = image
        self.prompt: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            max_length=_PROMPT_MAX,
            placeholder=_("What should happen, e.g. the camera pushes in as snow starts to fall"),
        )
        self.model: discord.ui.Select[AnimateModal] = discord.ui.Select(
            custom_id="model",
            placeholder=_("The bot's default model"),
            required=False,
            min_values=0,
            options=[
                discord.SelectOption(label=spec.label[:100], value=value, description=value[:100])
                for value, spec in models[:_OPTIONS_MAX]
            ],
        )
        self.duration: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
            custom_id="duration", required=False, max_length=4, placeholder=_("e.g. 8")
        )
        self.aspect_ratio: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
            custom_id="aspect_ratio",
            required=False,
            max_length=5,
            placeholder=_("e.g. 16:9 or 9:16"),
        )
        self.seed: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
            custom_id="seed", required=False, max_length=10, placeholder=_("any whole number")
        )
        self.add_item(discord.ui.Label(text=_("Prompt"), component=self.prompt))
        self.add_item(discord.ui.Label(text=_("Model"), component=self.model))
        self.add_item(discord.ui.Label(text=_("Duration (seconds)"), component=self.duration))
        self.add_item(discord.ui.Label(text=_("Aspect ratio"), component=self.aspect_ratio))
        self.add_item(
            discord.ui.Label(
                text=_("Seed"),
                description=texts.same_seed_same_video(),
                component=self.seed,
            )
        )

    async def on_submit(self, interaction: discord.Interaction[Any], /) -> None:
        fields = ModalFields(
            prompt=self.prompt.value,
            model=self.model.values[0] if self.model.values else None,
            duration=self.duration.value,
            aspect_ratio=self.aspect_ratio.value,
            seed=self.seed.value,
        )
        await self._veo.animate_submitted(interaction, self._message, self._image, fields)


class ExtendModal(_VeoModal, title=N_("Extend this video")):
    def __init__(self, veo: VeoActions, job_id: str) -> None:
        super().__init__(title=_("Extend this video"), timeout=15 * 60)
        self._veo = veo
        self._job_id = job_id
        self.prompt: discord.ui.TextInput[ExtendModal] = discord.ui.TextInput(
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            max_length=_PROMPT_MAX,
            placeholder=_("What happens next"),
        )
        self.add_item(discord.ui.Label(text=_("Prompt"), component=self.prompt))

    async def on_submit(self, interaction: discord.Interaction[Any], /) -> None:
        await self._veo.extend_submitted(interaction, self._job_id, self.prompt.value)


class SettingsModal(_VeoModal, title=N_("Make a video with these settings")):
    """The /veo form, filled in with an earlier job's settings (Use these settings)."""

    def __init__(
        self,
        veo: VeoActions,
        request: GenerationRequest,
        chosen_model: str,
        models: list[tuple[str, ModelSpec]],
    ) -> None:
        super().__init__(title=_("Make a video with these settings"), timeout=15 * 60)
        self._veo = veo
        self.prompt: discord.ui.TextInput[SettingsModal] = discord.ui.TextInput(
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            max_length=_PROMPT_MAX,
            default=request.prompt[:_PROMPT_MAX],
        )
        offered = models[:_OPTIONS_MAX]
        self.model: discord.ui.Select[SettingsModal] = discord.ui.Select(
            custom_id="model",
            required=False,
            min_values=0,
            options=[
                discord.SelectOption(
                    label=spec.label[:100],
                    value=value,
                    description=value[:100],
                    default=value == chosen_model,
                )
                for value, spec in offered
            ],
        )
        self.duration: discord.ui.TextInput[SettingsModal] = discord.ui.TextInput(
            custom_id="duration",
            required=False,
            max_length=4,
            default=str(request.duration_s) if request.duration_s else None,
        )
        self.aspect_ratio: discord.ui.TextInput[SettingsModal] = discord.ui.TextInput(
            custom_id="aspect_ratio", required=False, max_length=5, default=request.aspect_ratio
        )
        self.seed: discord.ui.TextInput[SettingsModal] = discord.ui.TextInput(
            custom_id="seed",
            required=False,
            max_length=10,
            default=str(request.seed) if request.seed is not None else None,
        )
        self.add_item(discord.ui.Label(text=_("Prompt"), component=self.prompt))
        self.add_item(discord.ui.Label(text=_("Model"), component=self.model))
        self.add_item(discord.ui.Label(text=_("Duration (seconds)"), component=self.duration))
        self.add_item(discord.ui.Label(text=_("Aspect ratio"), component=self.aspect_ratio))
        self.add_item(
            discord.ui.Label(
                text=_("Seed"), description=texts.same_seed_same_video(), component=self.seed
            )
        )

    async def on_submit(self, interaction: discord.Interaction[Any], /) -> None:
        fields = ModalFields(
            prompt=self.prompt.value,
            model=self.model.values[0] if self.model.values else None,
            duration=self.duration.value,
            aspect_ratio=self.aspect_ratio.value,
            seed=self.seed.value,
        )
        await self._veo.settings_submitted(interaction, fields)
