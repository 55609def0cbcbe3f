"""The interactions about a person's own videos: `/veo-history` and its buttons (Post to
channel, Use these settings, Older), and Info under any video. A mixin of
`_commands.VeoCommands`, which supplies the acknowledgement, the catalog and the submission."""

from __future__ import annotations

import logging
from typing import Any

import discord

from adapters.discord._actions import ModalFields
from adapters.discord._buttons import history_view
from adapters.discord._markup import DISCORD
from adapters.discord._modals import SettingsModal
from adapters.discord._replies import reply
from adapters.discord._surface import DiscordSurface
from bot import texts
from bot.catalog import ModelSpec
from bot.errors import InvalidRequest
from bot.history import HistoryPage, visible_to
from bot.jobs import JobService
from bot.models import GenerationRequest, Job, JobState, Origin

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]


def history_text(page: HistoryPage) -> str:
    """A page of history as one private message."""
    if not page.jobs:
        return texts.history_empty(DISCORD)
    entries = [texts.history_entry(job, DISCORD) for job in page.jobs]
    return "\n".join([texts.history_heading(DISCORD), *entries])


class HistoryActions:
    """`/veo-history`, its buttons, and Info; `VeoCommands` supplies the rest."""

    surface: DiscordSurface

    @property
    def service(self) -> JobService:
        raise NotImplementedError

    async def _defer(self, interaction: Interaction) -> bool:
        raise NotImplementedError

    async def _submit(
        self, interaction: Interaction, request: GenerationRequest, origin: Origin
    ) -> str:
        raise NotImplementedError

    def _models(self, *, images_only: bool = False) -> list[tuple[str, ModelSpec]]:
        raise NotImplementedError

    def _split_model(self, value: str | None) -> tuple[str | None, str | None]:
        raise NotImplementedError

    async def _origin(self, interaction: Interaction) -> Origin:
        raise NotImplementedError

    def _request_from(self, fields: ModalFields) -> GenerationRequest:
        raise NotImplementedError

    def _check_permissions(self, interaction: Interaction, origin: Origin) -> None:
        raise NotImplementedError

    # --- /veo-history -------------------------------------------------------------------

    async def history(self, interaction: Interaction, cursor: str | None = None) -> None:
        """A private page of the person's videos, each with its buttons."""
        if not await self._defer(interaction):
            return
        origin = await self._origin(interaction)
        page = await self.service.history(origin.user_key, cursor=cursor)
        if cursor is not None and not page.jobs:
            await reply(interaction, texts.history_no_more())
            return
        view = history_view([job.id for job in page.jobs], page.next_cursor)
        try:
            await interaction.edit_original_response(content=history_text(page), view=view)
        except discord.HTTPException as exc:
            log.warning("could not answer interaction %s: %s", interaction.id, exc.status)

    async def older(self, interaction: Interaction, cursor: str) -> None:
        """Older: the next page, as a new private message."""
        await self.history(interaction, cursor)

    async def _own_job(self, interaction: Interaction, job_id: str) -> Job:
        job = await self.service.get_job(job_id)
        if job is None:
            raise InvalidRequest(texts.video_unknown())
        if job.origin.platform != "discord" or job.origin.user_id != str(interaction.user.id):
            raise InvalidRequest(texts.not_your_video())
        return job

    async def post_to_channel(self, interaction: Interaction, job_id: str) -> None:
        """Share one of the person's videos in the channel the history was asked in."""
        if await self._defer(interaction):
            await reply(interaction, await self._post_to_channel(interaction, job_id))

    async def _post_to_channel(self, interaction: Interaction, job_id: str) -> str:
        origin = await self._origin(interaction)
        job = await self._own_job(interaction, job_id)
        if job.state is not JobState.DELIVERED:
            raise InvalidRequest(texts.nothing_to_post())
        where = origin.thread_id or origin.channel_id
        await self.surface.share(job, where, self.service.kept_video(job))
        return texts.posted()

    async def use_settings(self, interaction: Interaction, job_id: str) -> None:
        """The /veo form, filled in with the job's settings (a modal answers at once)."""
        job = await self._own_job(interaction, job_id)
        chosen = f"{job.provider}/{job.model}"
        await interaction.response.send_modal(
            SettingsModal(self, job.request, chosen, self._models())  # type: ignore[arg-type]
        )

    async def settings_submitted(self, interaction: Interaction, fields: ModalFields) -> None:
        """The form sent back: a new request, as `/veo` would make it."""
        if await self._defer(interaction):
            origin = await self._origin(interaction)
            self._check_permissions(interaction, origin)
            self.service.admit(origin)
            request = self._request_from(fields)
            await reply(interaction, await self._submit(interaction, request, origin))

    # --- Info -----------------------------------------------------------------------------

    async def info(self, interaction: Interaction, job_id: str) -> None:
        """A video's parameters, privately, to whoever clicked (a private one: its requester)."""
        if await self._defer(interaction):
            job = await self.service.get_job(job_id)
            if job is None:
                text = texts.video_unknown()
            elif not visible_to(job, str(interaction.user.id)):
                text = texts.info_refused()
            else:
                text = texts.job_info(job, DISCORD)
            await reply(interaction, text)
