"""The Slack adapter as `veo-bot run` runs it: a slack-bolt `AsyncApp` answering `/veo`, the
"Animate with Veo" message shortcut, the request modal, the result buttons and @mentions, over
HTTP on the bot's web server (`POST /slack/events`) or over Socket Mode when SLACK_APP_TOKEN is
set.

Every listener acknowledges at once and leaves slow work (downloads, the core) to tasks the
adapter owns and ends on close. The one exception is the modal submission: its answer must
carry inline errors, so its images are fetched and the request checked before answering,
within a budget that keeps the answer inside Slack's 3 seconds.

Listeners and work do not catch errors themselves: what a listener raises goes to bolt's
`app.error` (`_on_error`), what work after the acknowledgement raises to `_guarded`, and both
answer through the core's one catch-all, `bot.errors.reply_to`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web
from pydantic import SecretStr
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.middleware.authorization.async_single_team_authorization import (
    AsyncSingleTeamAuthorization,
)
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import _admin as admin
from adapters.slack import _blocks as blocks
from adapters.slack._errors import best_effort, delivery_error, slack_call
from adapters.slack._history import (
    HISTORY_WORD,
    OLDER_ACTION,
    POST_ACTION,
    SETTINGS_ACTION,
    SlackHistory,
)
from adapters.slack._intake import (
    FileHosts,
    ModalAnswers,
    SeenEvents,
    checked_source,
    fetch_image,
    frame_source,
    is_external,
    is_image_file,
    mention_prompt,
)
from adapters.slack._locales import UserLocales
from adapters.slack._markup import SLACK
from adapters.slack._surface import PLATFORM, SlackSurface, thread_root
from bot import i18n, texts
from bot.admin import AdminActions, Admins, Member
from bot.catalog import InputKind, ModelSpec
from bot.channel_admin import ChannelActions
from bot.errors import ConfigurationError, DeliveryError, InvalidRequest, reply_to
from bot.i18n import _
from bot.models import GenerationRequest, ImageInput, Origin
from bot.ports import ChatSurface

if TYPE_CHECKING:
    from bot.jobs import JobService

log = logging.getLogger(__name__)

Reply = Callable[[str], Coroutine[Any, Any, None]]

EVENTS_PATH = "/slack/events"
# Of Slack's 3 s for answering a modal: the time its images may take to download.
ACK_BUDGET_S = 2.0
# How long close() lets running work finish before cancelling it (jobs are in the store).
CLOSE_GRACE_S = 5.0


class SlackAdapter:
    """Slack as a chat adapter: the bolt app over HTTP events or Socket Mode, and the surface."""

    platform = PLATFORM

    def __init__(
        self,
        *,
        bot_token: SecretStr,
        signing_secret: SecretStr | None,
        app_token: SecretStr | None,
        api_url: str,
        admins: Collection[str],
    ) -> None:
        self._bot_token = bot_token
        self._app_token = app_token
        self._admins = Admins(admins)
        # slack_sdk adds the trailing slash a base URL needs for urljoin (SLACK_API_URL).
        self._client = AsyncWebClient(token=bot_token.get_secret_value(), base_url=api_url)
        self._file_hosts = FileHosts(api_url)
        self._surface = SlackSurface(self._client)
        self.surface: ChatSurface = self._surface
        self._app = AsyncApp(
            name="veo-bot",
            client=self._client,
            signing_secret=signing_secret.get_secret_value() if signing_secret else "",
            # Listeners run before the answer goes back, so a modal's answer can carry errors;
            # each one acks at once and hands slow work to a task of ours.
            process_before_response=True,
        )
        # Every listener runs in the language of the person it answers.
        self._app.middleware(self._speak_their_language)
        self._user_locales: UserLocales | None = None
        self._app.command(blocks.COMMAND)(self._on_command)
        self._app.message_shortcut(blocks.SHORTCUT_CALLBACK)(self._on_shortcut)
        self._app.view(blocks.MODAL_CALLBACK)(self._on_modal)
        # One Re-roll under a video, or one per take under several (`veo_reroll_2`).
        self._app.action(re.compile(rf"^{blocks.REROLL_ACTION}(_[1-9])?$"))(self._on_reroll)
        self._app.action(blocks.DELETE_ACTION)(self._on_delete)
        self._app.action(blocks.CANCEL_ACTION)(self._on_cancel)
        self._history = SlackHistory(
            self._client,
            self._surface,
            jobs=lambda: self._jobs,
            models=self._models,
            spawn=self._spawn,
            responder=_responder,
        )
        self._app.action(blocks.INFO_ACTION)(self._history.on_info)
        self._app.action(POST_ACTION)(self._history.on_post)
        self._app.action(SETTINGS_ACTION)(self._history.on_settings)
        self._app.action(OLDER_ACTION)(self._history.on_older)
        self._app.event("app_mention")(self._on_mention)
        self._app.error(self._on_error)
        self._service: JobService | None = None
        self._actions: AdminActions | None = None
        self._channel_actions: ChannelActions | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._seen = SeenEvents()
        self._closing = False

    # --- ChatAdapter ----------------------------------------------------------------------

    def mount(self, app: web.Application) -> None:
        """Add `POST /slack/events` to the bot's web server (none in Socket Mode)."""
        # With an app token (SLACK_APP_TOKEN) Slack talks over Socket Mode instead.
        if self._app_token is None:
            app.router.add_post(EVENTS_PATH, self._on_http)

    async def start(self, service: JobService) -> None:
        """Ask Slack who the bot is (a refused token stops start-up); connect Socket Mode if set."""
        self._service = service
        self._user_locales = UserLocales(self._client, service.clock)
        self._actions = AdminActions(
            service.store, defaults=service.config.limits, clock=service.clock
        )
        self._channel_actions = ChannelActions(
            service.store,
            catalog=service.catalog,
            providers=service.providers,
            default_provider=service.config.default_provider,
            default_model=service.config.default_model,
            clock=service.clock,
        )
        await self._identify()
        if self._app_token is not None:
            await self._connect_socket(self._app_token)

    async def close(self) -> None:
        """Stop answering: disconnect Socket Mode and give running handlers a moment to finish."""
        self._closing = True
        if self._socket is not None:
            await self._close_socket(self._socket)
            self._socket = None
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=CLOSE_GRACE_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def healthy(self) -> bool:
        """Whether the adapter answers: started, and its Socket Mode session connected when used."""
        if self._service is None or self._closing:
            return False
        if self._app_token is None:
            return True
        session = self._socket.client.current_session if self._socket is not None else None
        return session is not None and not session.closed

    # --- transports -----------------------------------------------------------------------

    async def _on_http(self, request: web.Request) -> web.StreamResponse:
        if self._service is None or self._closing:
            raise web.HTTPServiceUnavailable(text="veo-bot is not taking Slack requests now")
        # Bolt checks the signature and the timestamp (5 minutes) before any listener runs.
        answer = await self._app.async_dispatch(await _bolt_request(request))
        return await to_aiohttp_response(answer)

    async def _identify(self) -> None:
        """auth.test once, at start: a wrong SLACK_BOT_TOKEN stops start-up in plain words,
        and bolt's authorization gets its answer before the first request. Left to itself,
        bolt asks on the first request, and every request arriving before that answer asks
        too: a burst of commands just after a start would each wait on auth.test before
        being acknowledged. Slack out of reach is not fatal: bolt asks later."""
        try:
            answer = await self._client.auth_test()
        except SlackApiError as exc:
            code = exc.response.get("error") if exc.response is not None else None
            raise ConfigurationError(
                _(
                    "Slack refused SLACK_BOT_TOKEN ({code}); copy the Bot User OAuth Token "
                    "(xoxb-…) again from the app's OAuth & Permissions page."
                ).format(code=code)
            ) from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("slack: auth.test at start failed (%s); bolt will ask later", exc)
            return
        # Bolt keeps the answer on its single-team authorization middleware (bolt internals:
        # slack-bolt is pinned; without the attribute this only costs the burst above).
        for middleware in self._app._async_middleware_list:
            if isinstance(middleware, AsyncSingleTeamAuthorization):
                middleware.auth_test_result = answer
        self._surface.identified(str(answer["user_id"]))

    async def _connect_socket(self, app_token: SecretStr) -> None:
        handler = AsyncSocketModeHandler(
            self._app, app_token.get_secret_value(), web_client=self._client
        )
        self._socket = handler
        try:
            # Asked once here so a wrong token stops start-up; slack_sdk would retry forever.
            handler.client.wss_uri = await handler.client.issue_new_wss_url()
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            await self._close_socket(handler)
            self._socket = None
            raise ConfigurationError(
                _(
                    "Slack would not open a Socket Mode connection ({delivery_error}); check "
                    "SLACK_APP_TOKEN (an app-level token with connections:write) and "
                    "SLACK_API_URL."
                ).format(delivery_error=delivery_error("apps.connections.open", exc))
            ) from None
        await handler.connect_async()

    @staticmethod
    async def _close_socket(handler: AsyncSocketModeHandler) -> None:
        client = handler.client
        await handler.close_async()
        # slack_sdk cancels its reader tasks without waiting; none may outlive close().
        tasks = (client.message_processor, client.message_receiver, client.current_session_monitor)
        await asyncio.gather(*(t for t in tasks if t is not None), return_exceptions=True)

    # --- listeners (each acknowledges first) ------------------------------------------------

    async def _speak_their_language(
        self, context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]
    ) -> Any:
        """Bolt middleware: the rest of the request (and the work it hands to tasks) in the
        language the person's workspace fixed, else their own Slack language. Set, not scoped:
        bolt runs the listener after the middleware returns, in the same task; every request
        sets it afresh before its listener runs."""
        i18n.set_locale(await self._locale_of(context.team_id, context.user_id))
        return await next()

    async def _locale_of(self, team_id: str | None, user_id: str | None) -> str:
        if self._service is None or team_id is None:
            return i18n.DEFAULT
        fixed = await self._service.languages.fixed(f"{PLATFORM}:{team_id}")
        if fixed is not None or user_id is None or self._user_locales is None:
            return fixed or i18n.DEFAULT
        return i18n.negotiate_or_default(await self._user_locales.of(user_id))

    async def _on_command(
        self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond
    ) -> None:
        text = str(command.get("text") or "").strip()
        if text.lower() == "help":
            await ack(text=blocks.help_text(*self._models()), response_type="ephemeral")
            return
        await ack()
        origin = Origin(
            platform=PLATFORM,
            workspace_id=str(command["team_id"]),
            channel_id=str(command["channel_id"]),
            user_id=str(command["user_id"]),
        )
        reply = _responder(respond)
        if text.lower() == "quota":
            self._spawn(self._send_quota(origin, reply), reply)
        elif text.lower() == HISTORY_WORD:
            self._spawn(self._history.send_history(origin, respond), reply)
        elif text.lower() == "admin" or text.lower().startswith("admin "):
            self._spawn(self._admin(origin, text[len("admin") :], reply), reply)
        elif text and self._text_alone_will_do():
            self._spawn(self._submit(GenerationRequest(prompt=text), origin), reply)
        else:
            context = blocks.ModalContext(channel_id=origin.channel_id)
            trigger = str(command["trigger_id"])
            self._spawn(self._open_modal(trigger, context, reply, prompt=text), reply)

    async def _on_shortcut(
        self, ack: AsyncAck, shortcut: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        reply = _responder(respond)
        message: Mapping[str, Any] = shortcut.get("message") or {}
        images = [file for file in message.get("files") or [] if is_image_file(file)]
        hosted = [file for file in images if not is_external(file)]
        if not hosted:
            text = (
                texts.remote_file(_("The image on that message"), SLACK)
                if images
                else texts.no_image_in_message(SLACK)
            )
            self._spawn(reply(text), reply)
            return
        context = blocks.ModalContext(
            channel_id=str(shortcut["channel"]["id"]),
            # The video goes into the message's thread; Slack threads are one level deep.
            thread_ts=str(message.get("thread_ts") or message["ts"]),
            frame=frame_source(hosted[0]),
        )
        self._spawn(self._open_modal(str(shortcut["trigger_id"]), context, reply), reply)

    async def _on_modal(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        context = blocks.ModalContext.load(str(view.get("private_metadata") or ""))
        user = body["user"]
        origin = Origin(
            platform=PLATFORM,
            workspace_id=str((body.get("team") or {}).get("id") or user.get("team_id")),
            channel_id=context.channel_id,
            user_id=str(user["id"]),
            thread_id=context.thread_ts,
        )
        # A refusal is shown inline on the form by the catch-all (`_on_error`).
        self._jobs.admit(origin)
        answers = ModalAnswers.read(view["state"]["values"])
        try:
            async with asyncio.timeout(ACK_BUDGET_S):
                first = await self._fetch(answers.first_frame or context.frame, field="image")
                last = await self._fetch(answers.last_frame, field="end_image")
        except TimeoutError:
            raise InvalidRequest(texts.image_took_too_long(SLACK), field="image") from None
        await self._jobs.submit(answers.request(first, last), origin)
        await ack()

    async def _on_reroll(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        reply = _responder(respond)
        team, user = _clicked_by(body)
        self._spawn(self._reroll(str(action["value"]), team, user, reply), reply)

    async def _on_delete(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        reply = _responder(respond)
        team, user = _clicked_by(body)
        self._spawn(self._delete(str(action["value"]), team, user, reply), reply)

    async def _on_cancel(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        reply = _responder(respond)
        team, user = _clicked_by(body)
        self._spawn(self._cancel(str(action["value"]), team, user, reply), reply)

    async def _cancel(self, job_id: str, team: str, user: str, reply: Reply) -> None:
        """Cancel on a status card: the requester or an admin; anyone else is refused."""
        job = await self._jobs.get_job(job_id)
        if job is None:
            await reply(texts.video_unknown())
        elif not self._admins.can_delete(job, Member(PLATFORM, team, user)):
            await reply(texts.cancel_refused(job.origin.user_id, SLACK))
        else:
            await reply(await self._jobs.cancel(job_id, who=SLACK.mention(user)))

    async def _on_mention(
        self, body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        # Events are acknowledged by bolt when this returns; the work runs on in a task.
        event_id = str(body.get("event_id") or "")
        if event_id and not self._seen.first_time(event_id):
            log.info("slack: event %s was handled already; ignoring its retry", event_id)
            return
        if not event.get("user"):
            return  # a mention by a workflow or an app: nobody's quota to charge
        channel, user = str(event["channel"]), str(event["user"])
        thread = str(event.get("thread_ts") or event["ts"])
        origin = Origin(
            platform=PLATFORM,
            workspace_id=str(body.get("team_id") or event.get("team") or context.team_id),
            channel_id=channel,
            user_id=user,
            thread_id=thread,
        )
        reply = self._whisper(channel, user, thread)
        prompt = mention_prompt(str(event.get("text") or ""), context.bot_user_id)
        files: list[Mapping[str, Any]] = list(event.get("files") or [])
        # Slack's own id for the event keeps a retry that outlives a restart from doubling up.
        key = f"slack:{origin.workspace_id}:{event_id}" if event_id else None
        self._spawn(self._submit_mention(prompt, files, origin, reply, key), reply)

    async def _on_error(
        self, error: Exception, body: dict[str, Any], respond: AsyncRespond | None
    ) -> BoltResponse | None:
        """bolt's `app.error`: what a listener (or bolt's middleware) raised, through the one
        catch-all (`bot.errors.reply_to`). A form shows it inline, on the field it is about;
        anything else is told privately and answered 200 (Slack would show its own error, or
        send an event again). With nobody to tell, bolt's 500 stands."""
        if body.get("type") == "view_submission":
            view = body.get("view") or {}
            present = {str(block.get("block_id")) for block in view.get("blocks") or []}
            field = error.field if isinstance(error, InvalidRequest) else None
            text = reply_to(error, during="slack form")
            errors = {_block_for(field, present): text}
            return BoltResponse(status=200, body={"response_action": "errors", "errors": errors})
        reply = self._reply_to(body, respond)
        text = reply_to(error, during=f"slack {body.get('type') or 'request'}")
        if reply is None:
            return None
        await reply(text)
        return BoltResponse(status=200, body="")

    def _reply_to(self, body: Mapping[str, Any], respond: AsyncRespond | None) -> Reply | None:
        """How to answer the person behind a request privately, if there is a way."""
        if respond is not None:
            return _responder(respond)
        event: Mapping[str, Any] = body.get("event") or {}
        if event.get("channel") and event.get("user") and event.get("ts"):
            thread = str(event.get("thread_ts") or event["ts"])
            return self._whisper(str(event["channel"]), str(event["user"]), thread)
        return None

    # --- the work behind the listeners -----------------------------------------------------

    async def _submit(self, request: GenerationRequest, origin: Origin) -> None:
        self._jobs.admit(origin)
        await self._jobs.submit(request, origin)

    async def _submit_mention(
        self,
        prompt: str,
        files: list[Mapping[str, Any]],
        origin: Origin,
        reply: Reply,
        idempotency_key: str | None,
    ) -> None:
        if len(files) > 2:
            await reply(texts.one_or_two_images())
            return
        self._jobs.admit(origin)
        # Every file is looked at before the first download: nothing is fetched for a mention
        # that also carries a remote file or a document.
        sources = [
            (checked_source(file, field=field), field)
            for file, field in zip(files, ("image", "end_image"), strict=False)
        ]
        frames = [await self._fetch(source, field=field) for source, field in sources]
        request = GenerationRequest(
            prompt=prompt,
            first_frame=frames[0] if frames else None,
            last_frame=frames[1] if len(frames) > 1 else None,
        )
        await self._jobs.submit(request, origin, idempotency_key=idempotency_key)

    async def _admin(self, origin: Origin, text: str, reply: Reply) -> None:
        # Slack does not say who runs a workspace: only VEO_ADMINS, who speak as the operator.
        actor = self._admins.actor(Member(PLATFORM, origin.workspace_id, origin.user_id))
        if actor is None:
            await reply(texts.not_an_admin(SLACK))
            return
        if text.strip().lower() == "chart":
            await self._send_chart(origin, reply)
            return
        if self._channel_actions is None:
            raise RuntimeError("the Slack adapter is used before start()")
        await reply(
            await admin.run(
                self._admin_actions,
                self._channel_actions,
                origin,
                text,
                actor,
                languages=self._jobs.languages,
            )
        )

    async def _send_chart(self, origin: Origin, reply: Reply) -> None:
        """The workspace's usage chart to the admin who asked, by DM (files upload v2): only
        they see it, and an ephemeral message cannot hold a file."""
        chart = await self._admin_actions.usage_chart(workspace_key=origin.workspace_key)
        caption = texts.usage_chart_caption(chart.month, chart.people)
        await self._surface.send_file_by_dm(
            origin.user_id,
            filename=chart.filename,
            data=chart.png,
            title=chart.filename,
            comment=caption,
        )
        await reply(texts.usage_chart_sent_by_dm())

    async def _send_quota(self, origin: Origin, reply: Reply) -> None:
        await reply(texts.quota(await self._jobs.quota_report(origin), SLACK))

    async def _open_modal(
        self, trigger_id: str, context: blocks.ModalContext, reply: Reply, *, prompt: str = ""
    ) -> None:
        choices, default = self._models()
        view = blocks.request_modal(choices, default, context, prompt=prompt)
        try:
            await slack_call(
                "open the form", self._client.views_open(trigger_id=trigger_id, view=view)
            )
        except DeliveryError as err:
            log.warning("slack: %s", err)
            await reply(texts.form_did_not_open(SLACK))

    async def _reroll(self, job_id: str, team: str, user: str, reply: Reply) -> None:
        previous = await self._jobs.get_job(job_id)
        if previous is None:
            await reply(texts.video_unknown())
            return
        origin = Origin(
            platform=PLATFORM,
            workspace_id=team,
            channel_id=previous.origin.channel_id,
            user_id=user,
            thread_id=thread_root(previous),
        )
        self._jobs.admit(origin)
        await self._jobs.reroll(job_id, origin)

    async def _delete(self, job_id: str, team: str, user: str, reply: Reply) -> None:
        job = await self._jobs.get_job(job_id)
        if job is None or not job.delivery_refs:
            await reply(texts.video_gone())
            return
        if not self._admins.can_delete(job, Member(PLATFORM, team, user)):
            await reply(texts.delete_refused(job.origin.user_id, SLACK))
            return
        await self._jobs.revoke_result(job, by=f"{PLATFORM}:{user}")
        try:
            await self._surface.delete_result(job, user)
        except DeliveryError as err:
            log.warning("slack: job %s: %s", job.id, err)
            await reply(err.user_message or texts.could_not_delete(SLACK))

    async def _fetch(self, source: blocks.FrameSource | None, *, field: str) -> ImageInput | None:
        if source is None:
            return None
        if source.url is None:
            # A file_input answer may name the file without its URL: files.info has it.
            try:
                info = await slack_call(
                    "look up a file", self._client.files_info(file=source.file_id)
                )
            except DeliveryError as err:
                log.warning("slack: %s", err)
                raise InvalidRequest(
                    texts.file_not_found(source.name, SLACK), field=field
                ) from None
            source = checked_source(info["file"], field=field)
        token = self._bot_token.get_secret_value()
        return await fetch_image(source, token, self._file_hosts, field=field)

    # --- helpers --------------------------------------------------------------------------

    @property
    def _jobs(self) -> JobService:
        if self._service is None:
            raise RuntimeError("the Slack adapter is used before start()")
        return self._service

    @property
    def _admin_actions(self) -> AdminActions:
        if self._actions is None:
            raise RuntimeError("the Slack adapter is used before start()")
        return self._actions

    def _models(self) -> tuple[list[ModelSpec], ModelSpec]:
        """The models people can pick (those of the providers this bot has), default first."""
        service = self._jobs
        default = service.catalog.get(service.config.default_provider, service.config.default_model)
        return service.catalog.offered(service.providers, first=default.provider), default

    def _text_alone_will_do(self) -> bool:
        _choices, default = self._models()
        return default.takes(InputKind.TEXT) and not default.requires_image

    def _spawn(self, work: Coroutine[Any, Any, None], reply: Reply) -> None:
        task = asyncio.create_task(_guarded(work, reply))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _whisper(self, channel: str, user: str, thread_ts: str) -> Reply:
        """Answers only the person sees, in the thread (events have no response_url)."""

        async def reply(text: str) -> None:
            await best_effort(
                slack_call(
                    "answer privately",
                    self._client.chat_postEphemeral(
                        channel=channel, user=user, text=text, thread_ts=thread_ts
                    ),
                )
            )

        return reply


async def _guarded(work: Coroutine[Any, Any, None], reply: Reply) -> None:
    """Run one piece of work after the acknowledgement, where bolt's `app.error` cannot see
    it: whatever it raises goes to the same catch-all (`bot.errors.reply_to`)."""
    try:
        await work
    except Exception as error:
        await reply(reply_to(error, during="slack"))


async def _bolt_request(request: web.Request) -> AsyncBoltRequest:
    """The request as bolt sees it, with one repair: slack-bolt 1.30 takes any form containing
    the word "payload" for an interaction, so `/veo the payload bay opens` would arrive empty
    and go unanswered. Such a form is read as the slash command it is."""
    bolt_request = await to_bolt_request(request)
    if not bolt_request.body and bolt_request.raw_body:
        form = dict(parse_qsl(bolt_request.raw_body, keep_blank_values=True))
        if "command" in form:
            bolt_request.body = form
            bolt_request.context = build_async_context(AsyncBoltContext({}), form)
    return bolt_request


def _responder(respond: AsyncRespond) -> Reply:
    """Answers only the person sees, through the payload's response_url."""

    async def reply(text: str) -> None:
        try:
            answer = await respond(text=text, response_type="ephemeral", replace_original=False)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack: response_url failed: %s", type(exc).__name__)
            return
        if answer.status_code != 200:
            log.warning("slack: response_url answered %s", answer.status_code)

    return reply


def _clicked_by(body: Mapping[str, Any]) -> tuple[str, str]:
    user = body["user"]
    team = (body.get("team") or {}).get("id") or user.get("team_id")
    return str(team), str(user["id"])


def _block_for(field: str | None, present: Collection[str]) -> str:
    """The modal block that shows an error about `field` (the prompt when it is not shown)."""
    block = blocks.FIELD_BLOCKS.get(field or "", blocks.PROMPT_BLOCK)
    return block if block in present else blocks.PROMPT_BLOCK
