"""From Slack payloads to what the core understands: the modal's answers, images behind
`url_private` (fetched with the bot token and checked by `bot.media.load_image`), and the
memory of events already handled (Slack sends an event again when it thinks it was missed).

The bot token goes only to Slack's own file hosts over https (`FileHosts`): a remote file's
`url_private` is whatever address the app that added it chose, so remote files are refused
before any request, and a redirect is followed by hand only while it stays on those hosts."""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from adapters.slack._blocks import (
    ASPECT_BLOCK,
    AUDIO_BLOCK,
    COUNT_BLOCK,
    DURATION_BLOCK,
    FIRST_FRAME_BLOCK,
    IMAGE_FILETYPES,
    INPUT,
    LAST_FRAME_BLOCK,
    MODEL_BLOCK,
    NEGATIVE_BLOCK,
    PRIVATE_BLOCK,
    PROMPT_BLOCK,
    SEED_BLOCK,
    FrameSource,
)
from adapters.slack._markup import SLACK
from bot import texts
from bot.errors import InvalidRequest
from bot.i18n import _
from bot.media import MAX_IMAGE_BYTES, load_image
from bot.models import GenerationRequest, ImageInput
from bot.variants import parse_count

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 20.0
_CHUNK = 64 * 1024
# Where Slack keeps uploaded files: `files.slack.com` (it redirects some downloads to
# `files-origin.slack.com`), `files-edu.slack.com` for education workspaces, and GovSlack's
# `files.slack-gov.com`. Slack-owned names only, never a pattern a workspace could match.
SLACK_FILE_HOSTS = frozenset(
    {"files.slack.com", "files-origin.slack.com", "files-edu.slack.com", "files.slack-gov.com"}
)
MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

_Where = tuple[str, str, int]  # scheme, host, port


def _origin(url: URL) -> _Where | None:
    if not url.is_absolute() or url.host is None or url.port is None:
        return None
    return (url.scheme.lower(), url.host.lower(), url.port)


class FileHosts:
    """The places the bot token may be sent to fetch a file: Slack's file hosts over https
    (port 443), and exactly the scheme, host and port of SLACK_API_URL, which gets the token
    with every Web API call anyway (and is where a test's fake Slack serves its files)."""

    def __init__(self, api_url: str) -> None:
        allowed = {("https", host, 443) for host in SLACK_FILE_HOSTS}
        try:
            api = _origin(URL(api_url))
        except ValueError:
            api = None
        if api is not None:
            allowed.add(api)
        self._allowed = frozenset(allowed)

    def allows(self, url: URL) -> bool:
        return _origin(url) in self._allowed


def _parse(url: str) -> URL | None:
    try:
        return URL(url)
    except ValueError:
        return None


def frame_source(file: Mapping[str, Any]) -> FrameSource:
    """A Slack file object as the bot needs it; the URL may be missing (then `files.info`)."""
    url = file.get("url_private_download") or file.get("url_private")
    return FrameSource(
        file_id=str(file.get("id", "")),
        name=str(file.get("name") or file.get("title") or _("The image")),
        url=str(url) if url else None,
    )


def is_image_file(file: Mapping[str, Any]) -> bool:
    """What Slack says the file is; the bytes are checked again once fetched."""
    mimetype = str(file.get("mimetype") or "")
    return mimetype.startswith("image/") or file.get("filetype") in IMAGE_FILETYPES


def is_external(file: Mapping[str, Any]) -> bool:
    """A remote file: Slack holds only a pointer, and `url_private` is the app's own URL."""
    return bool(file.get("is_external")) or file.get("mode") == "external"


def checked_source(file: Mapping[str, Any], *, field: str) -> FrameSource:
    """A file someone gave the bot, refused in plain words unless it is an image kept by
    Slack itself. A file named only by its id is checked once `files.info` describes it."""
    source = frame_source(file)
    described = is_external(file) or any(
        key in file for key in ("url_private", "url_private_download", "mimetype", "filetype")
    )
    if not described:
        return source
    if is_external(file):
        raise InvalidRequest(texts.remote_file(source.name, SLACK), field=field)
    if not is_image_file(file):
        raise InvalidRequest(texts.not_an_image(source.name, SLACK), field=field)
    return source


async def fetch_image(
    source: FrameSource, token: str, hosts: FileHosts, *, field: str
) -> ImageInput:
    """Download a file from Slack with the bot token and check that it is a usable image.

    The token is sent only where `hosts` allows, redirects included; anything else is refused
    before a request leaves. Without a valid token Slack answers 200 with its HTML login
    page: `load_image` refuses that as "not a PNG, JPEG or WebP image", which is the truth."""
    if source.url is None:
        raise InvalidRequest(texts.file_not_found(source.name, SLACK), field=field)
    url = _parse(source.url)
    if url is None or not hosts.allows(url):
        log.warning("slack: file %s names a URL outside Slack's file hosts", source.file_id)
        raise InvalidRequest(texts.file_not_on_platform_servers(source.name, SLACK), field=field)
    try:
        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            data = await _follow(session, url, token, hosts, source, field=field)
    except (aiohttp.ClientError, TimeoutError):
        raise InvalidRequest(texts.file_not_fetched(source.name, SLACK), field=field) from None
    try:
        return load_image(data, filename=source.name)
    except InvalidRequest as exc:
        raise InvalidRequest(exc.user_message, field=field) from None


async def _follow(
    session: aiohttp.ClientSession,
    url: URL,
    token: str,
    hosts: FileHosts,
    source: FrameSource,
    *,
    field: str,
) -> bytes:
    """GET `url` with the token, following redirects by hand while they stay on `hosts`: a
    redirect anywhere else is refused, not followed without the token (a Slack download
    never leaves Slack, and the bot will not be sent to fetch someone else's address)."""
    headers = {"Authorization": f"Bearer {token}"}
    for _hop in range(MAX_REDIRECTS + 1):
        async with session.get(url, headers=headers, allow_redirects=False) as response:
            if response.status in _REDIRECTS and response.headers.get("Location"):
                target = _parse(response.headers["Location"])
                url = url.join(target) if target is not None else URL()
                if not hosts.allows(url):
                    log.warning(
                        "slack: file %s redirected outside Slack's file hosts", source.file_id
                    )
                    raise InvalidRequest(texts.file_sent_elsewhere(source.name, SLACK), field=field)
                continue
            if response.status != 200:
                raise InvalidRequest(texts.file_withheld(source.name, SLACK), field=field)
            return await _read_capped(response.content, MAX_IMAGE_BYTES)
    raise InvalidRequest(texts.file_redirected_too_often(source.name, SLACK), field=field)


async def _read_capped(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """At most `limit + 1` bytes: enough for `load_image` to say the file is too large."""
    chunks = bytearray()
    while len(chunks) <= limit:
        chunk = await stream.read(_CHUNK)
        if not chunk:
            break
        chunks += chunk
    return bytes(chunks[: limit + 1])


def mention_prompt(text: str, bot_user_id: str | None) -> str:
    """The text of an @mention without the mention of the bot itself."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", " ", text)
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class ModalAnswers:
    """What a person filled into the `/veo` modal, before any image is fetched."""

    prompt: str
    negative_prompt: str | None
    provider: str | None
    model: str | None
    duration_s: int | None
    aspect_ratio: str | None
    seed: int | None
    audio: bool
    first_frame: FrameSource | None
    last_frame: FrameSource | None
    private: bool = False
    count: int = 1

    @classmethod
    def read(cls, values: Mapping[str, Mapping[str, Any]]) -> ModalAnswers:
        """Parse `view.state.values`; raises `InvalidRequest` naming the field on bad input."""

        def state(block: str) -> Mapping[str, Any]:
            return values.get(block, {}).get(INPUT) or {}

        def text(block: str) -> str | None:
            value = state(block).get("value")
            if value is None:
                return None
            return str(value).strip() or None

        def selected(block: str) -> str | None:
            option = state(block).get("selected_option") or {}
            return str(option["value"]) if option.get("value") else None

        def first_file(block: str) -> FrameSource | None:
            files: Sequence[Mapping[str, Any]] = state(block).get("files") or []
            return checked_source(files[0], field=block) if files else None

        provider = model = None
        if (chosen := selected(MODEL_BLOCK)) is not None:
            provider, _, model = chosen.partition("/")
        seed_text = text(SEED_BLOCK)
        try:
            seed = int(seed_text) if seed_text is not None else None
        except ValueError:
            raise InvalidRequest(texts.not_a_whole_number("seed"), field="seed") from None
        duration = selected(DURATION_BLOCK)
        checked = state(AUDIO_BLOCK).get("selected_options") or []
        return cls(
            prompt=text(PROMPT_BLOCK) or "",
            negative_prompt=text(NEGATIVE_BLOCK),
            provider=provider or None,
            model=model or None,
            duration_s=int(duration) if duration is not None else None,
            aspect_ratio=selected(ASPECT_BLOCK),
            seed=seed,
            audio=bool(checked),
            first_frame=first_file(FIRST_FRAME_BLOCK),
            last_frame=first_file(LAST_FRAME_BLOCK),
            private=bool(state(PRIVATE_BLOCK).get("selected_options")),
            count=parse_count(selected(COUNT_BLOCK) or text(COUNT_BLOCK)),
        )

    def request(
        self, first_frame: ImageInput | None, last_frame: ImageInput | None
    ) -> GenerationRequest:
        return GenerationRequest(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            provider=self.provider,
            model=self.model,
            duration_s=self.duration_s,
            aspect_ratio=self.aspect_ratio,
            seed=self.seed,
            audio=self.audio,
            first_frame=first_frame,
            last_frame=last_frame,
            private=self.private,
            count=self.count,
        )


class SeenEvents:
    """Event ids handled lately, so a re-sent event never starts a second job.

    Slack re-sends an event after 3 s without a 2xx, up to three times within minutes; an hour
    of memory covers that, and saves fetching a retry's images again; a retry that arrives
    after a restart is caught by the job's idempotency key (the event id) in the store."""

    def __init__(self, ttl_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, key: str) -> bool:
        now = self._clock()
        while self._seen and next(iter(self._seen.values())) < now - self._ttl_s:
            self._seen.popitem(last=False)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True
