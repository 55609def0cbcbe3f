"""From Slack payloads to what the core understands: the modal's answers, images behind
`url_private` (fetched with the bot token and checked by `bot.media.load_image`), and the
memory of events already handled (Slack sends an event again when it thinks it was missed)."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from adapters.slack._blocks import (
    ASPECT_BLOCK,
    AUDIO_BLOCK,
    DURATION_BLOCK,
    FIRST_FRAME_BLOCK,
    IMAGE_FILETYPES,
    INPUT,
    LAST_FRAME_BLOCK,
    MODEL_BLOCK,
    NEGATIVE_BLOCK,
    PROMPT_BLOCK,
    SEED_BLOCK,
    FrameSource,
)
from bot.errors import InvalidRequest
from bot.media import MAX_IMAGE_BYTES, load_image
from bot.models import GenerationRequest, ImageInput

FETCH_TIMEOUT_S = 20.0
_CHUNK = 64 * 1024


def frame_source(file: Mapping[str, Any]) -> FrameSource:
    """A Slack file object as the bot needs it; the URL may be missing (then `files.info`)."""
    url = file.get("url_private_download") or file.get("url_private")
    return FrameSource(
        file_id=str(file.get("id", "")),
        name=str(file.get("name") or file.get("title") or "The image"),
        url=str(url) if url else None,
    )


def is_image_file(file: Mapping[str, Any]) -> bool:
    """What Slack says the file is; the bytes are checked again once fetched."""
    mimetype = str(file.get("mimetype") or "")
    return mimetype.startswith("image/") or file.get("filetype") in IMAGE_FILETYPES


async def fetch_image(source: FrameSource, token: str, *, field: str) -> ImageInput:
    """Download a file from Slack with the bot token and check that it is a usable image.

    Without a valid token Slack answers 200 with its HTML login page: `load_image` refuses
    that as "not a PNG, JPEG or WebP image", which is the truth."""
    if source.url is None:
        raise InvalidRequest(f"{source.name} could not be found in Slack.", field=field)
    try:
        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(source.url, headers={"Authorization": f"Bearer {token}"}) as response,
        ):
            if response.status != 200:
                raise InvalidRequest(
                    f"Slack would not hand over {source.name} (it may have been deleted); "
                    "share it again and retry.",
                    field=field,
                )
            data = await _read_capped(response.content, MAX_IMAGE_BYTES)
    except (aiohttp.ClientError, TimeoutError):
        raise InvalidRequest(
            f"{source.name} could not be fetched from Slack; try again.", field=field
        ) from None
    try:
        return load_image(data, filename=source.name)
    except InvalidRequest as exc:
        raise InvalidRequest(exc.user_message, field=field) from None


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
            return frame_source(files[0]) if files else None

        provider = model = None
        if (chosen := selected(MODEL_BLOCK)) is not None:
            provider, _, model = chosen.partition("/")
        seed_text = text(SEED_BLOCK)
        try:
            seed = int(seed_text) if seed_text is not None else None
        except ValueError:
            raise InvalidRequest("The seed must be a whole number.", field="seed") from None
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
