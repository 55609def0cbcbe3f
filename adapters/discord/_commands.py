"""The bot's side of every interaction: `/veo`, `/veo-quota`, `/veo-history` (with
`_history`), "Animate with Veo", the buttons under a video and the modals they open.

Each handler acknowledges first (Discord allows 3 s; downloads, the database and providers may
take longer), then converts the interaction into a `GenerationRequest` + `Origin`, calls the job
service, and answers the person ephemerally in plain words. Refusals change nothing: the core
charges only jobs it accepted. A handler that fails just raises: the tree's `on_error` (and the
buttons' and modals' own hooks) hand every error to `_replies.answer_error`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
from discord import app_commands

from adapters.discord import _cards
from adapters.discord._actions import ModalFields
from adapters.discord._admin import VeoAdmin, admin_group, member_of
from adapters.discord._client import VeoClient
from adapters.discord._history import HistoryActions
from adapters.discord._markup import DISCORD
from adapters.discord._modals import AnimateModal, ExtendModal
from adapters.discord._replies import answer_error, reply
from adapters.discord._surface import PLATFORM, DiscordSurface
from bot import i18n, texts
from bot.admin import Admins
from bot.catalog import MAX_SEED, InputKind, ModelSpec
from bot.errors import InvalidRequest, UserFacingError
from bot.i18n import N_, _
from bot.jobs import JobService
from bot.media import MAX_IMAGE_BYTES, load_image
from bot.models import GenerationRequest, ImageInput, Job, Origin
from bot.variants import parse_count

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]
_CHOICES_MAX = 25
_CHOICE_TEXT_MAX = 100
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True, slots=True)
class VeoOptions:
    """`/veo` as typed, before the catalog has its say."""

    prompt: str
    image: discord.Attachment | None = None
    end_image: discord.Attachment | None = None
    model: str | None = None
    duration: int | None = None
    aspect_ratio: str | None = None
    seed: int | None = None
    negative_prompt: str | None = None
    audio: bool | None = None
    private: bool | None = None
    count: int | None = None


def in_dm(interaction: Interaction) -> bool:
    """Whether the interaction came from a direct message with the bot."""
    return interaction.guild_id is None and isinstance(
        interaction.channel, discord.DMChannel | discord.PartialMessageable
    )


def dm_origin(interaction: Interaction, home: str) -> Origin:
    """Where a direct message with the bot came from: the DM channel, counted under the
    person's home server `home` (see `JobService.home_workspace`)."""
    assert interaction.channel is not None
    return Origin(
        platform="discord",
        workspace_id=home,
        channel_id=str(interaction.channel.id),
        user_id=str(interaction.user.id),
        locale=i18n.current(),
        direct=True,
    )


def origin_of(interaction: Interaction, *, thread_on: int | None = None) -> Origin:
    """Where an interaction came from, in plain ids. Inside a thread, answers stay there;
    `thread_on` names a message to open the answers' thread on (the context menu)."""
    if interaction.guild_id is None or interaction.channel is None:
        raise InvalidRequest(texts.use_in_a_channel(DISCORD))
    channel = interaction.channel
    thread_id: str | None
    if isinstance(channel, discord.Thread):
        channel_id, thread_id = channel.parent_id, str(channel.id)
    else:
        channel_id, thread_id = channel.id, None if thread_on is None else str(thread_on)
    return Origin(
        platform="discord",
        workspace_id=str(interaction.guild_id),
        channel_id=str(channel_id),
        thread_id=thread_id,
        user_id=str(interaction.user.id),
        locale=i18n.current(),
    )


def check_permissions(interaction: Interaction, origin: Origin) -> None:
    """Refuse up front, charging nothing, when the bot could not post the result here."""
    if origin.direct:
        return  # the bot may always answer in its own DM
    have = interaction.app_permissions
    needed = {
        _("Send Messages in Threads"): have.send_messages_in_threads,
        _("Embed Links"): have.embed_links,
        _("Attach Files"): have.attach_files,
    }
    if not isinstance(interaction.channel, discord.Thread):
        needed[_("Send Messages")] = have.send_messages
        needed[_("Create Public Threads")] = have.create_public_threads
    missing = [name for name, granted in needed.items() if not granted]
    if missing:
        raise UserFacingError(
            texts.missing_permissions(missing, DISCORD), code="discord_permissions"
        )


def queued_text(job: Job) -> str:
    opens = _cards.thread_name_of(job) if job.origin.thread_id is None else None
    return texts.queued(job, DISCORD, new_thread=opens)


def _parse_whole(text: str | None, what: str, field: str) -> int | None:
    value = (text or "").strip().removesuffix("s").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidRequest(texts.not_a_whole_number(what), field=field) from None


def _looks_like_image(attachment: discord.Attachment) -> bool:
    content_type = attachment.content_type or ""
    return content_type.startswith("image/") or attachment.filename.lower().endswith(
        _IMAGE_SUFFIXES
    )


class VeoCommands(HistoryActions):
    def __init__(self, surface: DiscordSurface, *, admins: Admins) -> None:
        self.surface = surface
        self.admin = VeoAdmin(admins)
        self._service: JobService | None = None

    def bind(self, service: JobService) -> None:
        self._service = service
        self.admin.bind(service)

    @property
    def service(self) -> JobService:
        if self._service is None:
            raise RuntimeError("the Discord adapter has not been started")
        return self._service

    async def _origin(self, interaction: Interaction) -> Origin:
        """Where the interaction came from; a DM counts under the person's home server."""
        if in_dm(interaction):
            home = await self.service.home_workspace("discord", str(interaction.user.id))
            return dm_origin(interaction, home)
        return origin_of(interaction)

    def _check_permissions(self, interaction: Interaction, origin: Origin) -> None:
        check_permissions(interaction, origin)

    def _request_from(self, fields: ModalFields) -> GenerationRequest:
        """A text-only request from a filled-in form."""
        provider, model = self._split_model(fields.model)
        return GenerationRequest(
            prompt=fields.prompt,
            provider=provider,
            model=model,
            duration_s=_parse_whole(fields.duration, _("duration in seconds"), "duration"),
            aspect_ratio=(fields.aspect_ratio or "").strip() or None,
            seed=_parse_whole(fields.seed, _("seed"), "seed"),
        )

    # --- answering ----------------------------------------------------------------------

    async def _defer(self, interaction: Interaction) -> bool:
        """Acknowledge at once, privately ("thinking…"); False when Discord no longer takes
        it, and then nothing is started that nobody would hear about."""
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
        except discord.HTTPException as exc:
            log.warning(
                "could not acknowledge interaction %s: %s (code %s)",
                interaction.id,
                exc.status,
                exc.code,
            )
            return False
        return True

    async def _image(self, attachment: discord.Attachment | None, field: str) -> ImageInput | None:
        """Download an attached image now (its signed URL expires) and check it."""
        if attachment is None:
            return None
        name = attachment.filename
        if attachment.size > MAX_IMAGE_BYTES:
            raise InvalidRequest(
                texts.image_too_large(name, attachment.size, MAX_IMAGE_BYTES, DISCORD), field=field
            )
        try:
            data = await attachment.read()
        except discord.NotFound:
            raise InvalidRequest(
                texts.attachment_link_expired(name, DISCORD), field=field
            ) from None
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError):
            raise UserFacingError(
                texts.attachment_not_handed_over(name, DISCORD), code="attachment_download"
            ) from None
        # Decoding checks are CPU work: off the event loop, so the gateway keeps its heartbeat.
        return await asyncio.to_thread(load_image, data, filename=attachment.filename)

    async def _submit(
        self, interaction: Interaction, request: GenerationRequest, origin: Origin
    ) -> str:
        job = await self.service.submit(request, origin)
        self._remember(job, interaction)
        if request.count == 1:
            return queued_text(job)
        total = job.cost_s * (request.count if job.group_id is not None else 1)
        return f"{queued_text(job)} {texts.takes_queued(request.count, total)}"

    def _remember(self, job: Job, interaction: Interaction) -> None:
        """What the surface needs of the interaction later: the upload limit, and for a
        private job the interaction to answer with the video."""
        self.surface.remember_limit(job.id, interaction.filesize_limit)
        if job.request.private:
            self.surface.remember_private_reply(job.id, interaction)

    # --- the catalog, for choices and autocomplete ----------------------------------------

    def _split_model(self, value: str | None) -> tuple[str | None, str | None]:
        """`provider/model` as offered by autocomplete, or a bare model id of the default
        provider (model ids may hold slashes, provider names do not)."""
        if not value:
            return None, None
        provider, slash, model = value.partition("/")
        if slash and provider in self.service.providers:
            return provider, model
        return None, value

    def _spec(self, value: str | None) -> ModelSpec:
        service = self.service
        provider, model = self._split_model(value)
        provider = provider or service.config.default_provider
        if model is None and provider == service.config.default_provider:
            model = service.config.default_model
        try:
            return service.catalog.get(provider, model)
        except InvalidRequest:
            return service.catalog.get(
                service.config.default_provider, service.config.default_model
            )

    def _models(self, *, images_only: bool = False) -> list[tuple[str, ModelSpec]]:
        service = self.service
        offered = service.catalog.offered(service.providers, first=service.config.default_provider)
        return [
            (f"{spec.provider}/{spec.id}", spec)
            for spec in offered
            if not images_only or spec.takes(InputKind.FIRST_FRAME)
        ]

    def model_choices(self, typed: str) -> list[app_commands.Choice[str]]:
        typed = typed.lower()
        choices = [
            app_commands.Choice(name=f"{spec.label} · {value}"[:_CHOICE_TEXT_MAX], value=value)
            for value, spec in self._models()
            if len(value) <= _CHOICE_TEXT_MAX
            and (typed in value.lower() or typed in spec.label.lower())
        ]
        return choices[:_CHOICES_MAX]

    def duration_choices(self, model: str | None, typed: str) -> list[app_commands.Choice[int]]:
        spec = self._spec(model)
        return [
            app_commands.Choice(name=f"{seconds} s", value=seconds)
            for seconds in spec.durations
            if str(seconds).startswith(typed.strip())
        ][:_CHOICES_MAX]

    def aspect_choices(self, model: str | None, typed: str) -> list[app_commands.Choice[str]]:
        spec = self._spec(model)
        return [
            app_commands.Choice(name=ratio, value=ratio)
            for ratio in spec.aspect_ratios
            if ratio.startswith(typed.strip())
        ][:_CHOICES_MAX]

    # --- /veo ---------------------------------------------------------------------------

    async def veo(self, interaction: Interaction, options: VeoOptions) -> None:
        if await self._defer(interaction):
            await reply(interaction, await self._veo(interaction, options))

    async def _veo(self, interaction: Interaction, options: VeoOptions) -> str:
        origin = await self._origin(interaction)
        check_permissions(interaction, origin)
        self.service.admit(origin)
        first = await self._image(options.image, "image")
        last = await self._image(options.end_image, "end_image")
        provider, model = self._split_model(options.model)
        request = GenerationRequest(
            prompt=options.prompt,
            negative_prompt=options.negative_prompt or None,
            provider=provider,
            model=model,
            duration_s=options.duration,
            aspect_ratio=options.aspect_ratio or None,
            seed=options.seed,
            audio=options.audio,
            first_frame=first,
            last_frame=last,
            private=bool(options.private),
            count=parse_count(options.count),
        )
        return await self._submit(interaction, request, origin)

    # --- /veo-quota ---------------------------------------------------------------------

    async def quota(self, interaction: Interaction) -> None:
        if await self._defer(interaction):
            await reply(interaction, await self._quota(interaction))

    async def _quota(self, interaction: Interaction) -> str:
        report = await self.service.quota_report(await self._origin(interaction))
        return texts.quota(report, DISCORD)

    # --- "Animate with Veo" -------------------------------------------------------------

    async def animate(self, interaction: Interaction, message: discord.Message) -> None:
        """The context menu answers with a modal at once (it cannot be deferred first)."""
        image = next((a for a in message.attachments if _looks_like_image(a)), None)
        models = self._models(images_only=True)
        if image is None or not models:
            text = (
                texts.no_image_in_message(DISCORD)
                if image is None
                else texts.no_model_animates_images()
            )
            await reply(interaction, text)
            return
        await interaction.response.send_modal(AnimateModal(self, message, image, models))

    async def animate_submitted(
        self,
        interaction: Interaction,
        message: discord.Message,
        image: discord.Attachment,
        fields: ModalFields,
    ) -> None:
        if await self._defer(interaction):
            await reply(interaction, await self._animate(interaction, message, image, fields))

    async def _animate(
        self,
        interaction: Interaction,
        message: discord.Message,
        image: discord.Attachment,
        fields: ModalFields,
    ) -> str:
        origin = origin_of(interaction, thread_on=message.id)
        check_permissions(interaction, origin)
        self.service.admit(origin)
        first = await self._image(image, "image")
        provider, model = self._split_model(fields.model)
        request = GenerationRequest(
            prompt=fields.prompt,
            provider=provider,
            model=model,
            duration_s=_parse_whole(fields.duration, _("duration in seconds"), "duration"),
            aspect_ratio=(fields.aspect_ratio or "").strip() or None,
            seed=_parse_whole(fields.seed, _("seed"), "seed"),
            first_frame=first,
        )
        return await self._submit(interaction, request, origin)

    # --- the buttons under a video ------------------------------------------------------

    async def reroll(self, interaction: Interaction, job_id: str) -> None:
        if await self._defer(interaction):
            await reply(interaction, await self._reroll(interaction, job_id))

    async def _reroll(self, interaction: Interaction, job_id: str) -> str:
        origin = await self._origin(interaction)
        check_permissions(interaction, origin)
        self.service.admit(origin)
        job = await self.service.reroll(job_id, origin)
        self._remember(job, interaction)
        return queued_text(job)

    async def extend(self, interaction: Interaction, job_id: str) -> None:
        """Asks for the continuation's prompt first; the job is checked on submit."""
        await interaction.response.send_modal(ExtendModal(self, job_id))

    async def extend_submitted(self, interaction: Interaction, job_id: str, prompt: str) -> None:
        if await self._defer(interaction):
            await reply(interaction, await self._extend(interaction, job_id, prompt))

    async def _extend(self, interaction: Interaction, job_id: str, prompt: str) -> str:
        origin = await self._origin(interaction)
        check_permissions(interaction, origin)
        self.service.admit(origin)
        previous = await self.service.get_job(job_id)
        if previous is None:
            raise InvalidRequest(texts.video_unknown())
        if previous.result_url is None:
            raise InvalidRequest(texts.cannot_extend())
        request = GenerationRequest(
            prompt=prompt,
            provider=previous.provider,
            model=previous.model,
            aspect_ratio=previous.request.aspect_ratio,
            resolution=previous.request.resolution,
            audio=previous.request.audio,
            source_video=previous.result_url,
        )
        return await self._submit(interaction, request, origin)

    async def cancel(self, interaction: Interaction, job_id: str) -> None:
        if await self._defer(interaction):
            await reply(interaction, await self._cancel(interaction, job_id))

    async def _cancel(self, interaction: Interaction, job_id: str) -> str:
        """The requester (in a DM too) or an admin: what Cancel did; anyone else: a refusal."""
        job = await self.service.get_job(job_id)
        if job is None:
            return texts.video_unknown()
        clicker = str(interaction.user.id)
        if clicker != job.origin.user_id and (
            interaction.guild_id is None
            or not self.admin.admins.can_delete(job, member_of(interaction))
        ):
            return texts.cancel_refused(job.origin.user_id, DISCORD)
        return await self.service.cancel(job_id, who=DISCORD.mention(clicker))

    async def delete(self, interaction: Interaction, job_id: str) -> None:
        if await self._defer(interaction):
            await reply(interaction, await self._delete(interaction, job_id))

    async def _delete(self, interaction: Interaction, job_id: str) -> str:
        job = await self.service.get_job(job_id)
        if not self.admin.admins.can_delete(job, member_of(interaction)):
            # Whose video it was is unknown once the job is: its admins alone may delete it.
            return (
                texts.delete_refused(job.origin.user_id, DISCORD) if job else texts.video_unknown()
            )
        if interaction.message is None:
            raise InvalidRequest(texts.which_message_to_delete(DISCORD))
        if job is not None:
            await self.service.revoke_result(job, by=f"{PLATFORM}:{interaction.user.id}")
        try:
            await interaction.message.delete()
        except discord.NotFound:
            pass  # already gone: what was asked for
        except discord.HTTPException:
            raise UserFacingError(texts.could_not_delete(DISCORD), code="discord_delete") from None
        log.info("job %s: video deleted by %s", job_id, interaction.user.id)
        return texts.deleted()


def _in_servers_and_dms(command: Any) -> Any:
    """Offer a command in servers and in a DM with the bot (installed to servers only)."""
    command = app_commands.allowed_installs(guilds=True, users=False)(command)
    return app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)(command)


def register(client: VeoClient, veo: VeoCommands) -> None:
    """Put `/veo`, `/veo-quota`, `/veo-history`, `/veo-admin` and "Animate with Veo" on the
    client's command tree."""

    @app_commands.command(
        name="veo", description=N_("Make a short video from a prompt, optionally from an image")
    )
    @app_commands.describe(
        prompt=N_("What should happen in the video"),
        image=N_("First frame to animate (PNG, JPEG or WebP)"),
        end_image=N_("Last frame to end on (models that take one)"),
        model=N_("Which model makes it"),
        duration=N_("Seconds of video (the model decides what is offered)"),
        aspect_ratio=N_("Frame shape, e.g. 16:9"),
        seed=N_("A number for a repeatable result"),
        negative_prompt=N_("What to keep out of the video"),
        audio=N_("Make sound too (models that can)"),
        private=N_("Send the video to you alone, not into the channel"),
        count=N_("How many takes to make at once, 1 to 4 (each is charged)"),
    )
    @app_commands.choices(count=[app_commands.Choice(name=str(n), value=n) for n in (1, 2, 3, 4)])
    @_in_servers_and_dms
    async def veo_command(  # noqa: PLR0917 - the signature is the command
        interaction: Interaction,
        prompt: str,
        image: discord.Attachment | None = None,
        end_image: discord.Attachment | None = None,
        model: str | None = None,
        duration: int | None = None,
        aspect_ratio: str | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        negative_prompt: str | None = None,
        audio: bool | None = None,
        private: bool | None = None,
        count: int | None = None,
    ) -> None:
        await veo.veo(
            interaction,
            VeoOptions(
                prompt=prompt,
                image=image,
                end_image=end_image,
                model=model,
                duration=duration,
                aspect_ratio=aspect_ratio,
                seed=seed,
                negative_prompt=negative_prompt,
                audio=audio,
                private=private,
                count=count,
            ),
        )

    @veo_command.autocomplete("model")
    async def complete_model(
        interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return veo.model_choices(current)

    @veo_command.autocomplete("duration")
    async def complete_duration(
        interaction: Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        return veo.duration_choices(interaction.namespace.model, current)

    @veo_command.autocomplete("aspect_ratio")
    async def complete_aspect(
        interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return veo.aspect_choices(interaction.namespace.model, current)

    @app_commands.command(
        name="veo-quota", description=N_("How much video you can still make today")
    )
    @_in_servers_and_dms
    async def quota_command(interaction: Interaction) -> None:
        await veo.quota(interaction)

    @app_commands.command(
        name="veo-history", description=N_("Your recent videos, only for you to see")
    )
    @_in_servers_and_dms
    async def history_command(interaction: Interaction) -> None:
        await veo.history(interaction)

    @app_commands.context_menu(name=N_("Animate with Veo"))
    @app_commands.guild_only()
    async def animate_command(interaction: Interaction, message: discord.Message) -> None:
        await veo.animate(interaction, message)

    client.tree.error(answer_error)
    client.tree.add_command(veo_command)
    client.tree.add_command(quota_command)
    client.tree.add_command(history_command)
    client.tree.add_command(animate_command)
    client.tree.add_command(admin_group(veo.admin))
    client.veo = veo
