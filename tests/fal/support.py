"""What the fal.ai tests share: the bot with the fal adapter against its fake queue (`make_bot`,
a fixture for tests/fal through its conftest), the endpoints, the images sent, and what the
fake was sent."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.providers.fal import FalProvider
from bot.links import MediaLinks
from storage.sqlite import SqliteStore
from tests.fakes.fal import API_KEY, JWKS_PATH, FalFake
from tests.provider_bots import ProviderBot, provider_bot
from tests.support import png_bytes

FAST = "fal-ai/veo3.1/fast"
VEO31 = "fal-ai/veo3.1"
LITE = "fal-ai/veo3.1/lite"
FIRST = png_bytes(640, 360, (250, 10, 10))
LAST = png_bytes(640, 360, (10, 10, 250))
REF = png_bytes(320, 320, (10, 200, 10))
BotFactory = Callable[..., Awaitable[ProviderBot]]


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def fal_provider(fake: FalFake, links: MediaLinks, **options: Any) -> FalProvider:
    return FalProvider(
        API_KEY,
        links,
        queue_url=fake.base_url,
        jwks_urls=(fake.base_url + JWKS_PATH,),
        **options,
    )


@pytest.fixture
async def make_bot(store: SqliteStore, tmp_path: Path) -> AsyncIterator[BotFactory]:
    async with contextlib.AsyncExitStack() as stack:

        async def build(
            *,
            key: str = API_KEY,
            public: bool = False,
            poll_interval_s: float = 0.01,
            job_timeout_s: float = 600.0,
            **options: Any,
        ) -> ProviderBot:
            fake = FalFake(**{"job_duration_s": 0.06, **options})

            def make(links: MediaLinks) -> FalProvider:
                return FalProvider(
                    key, links, queue_url=fake.base_url, jwks_urls=(fake.base_url + JWKS_PATH,)
                )

            return await stack.enter_async_context(
                provider_bot(
                    store,
                    tmp_path,
                    fake,
                    make,
                    name="fal",
                    public=public,
                    poll_interval_s=poll_interval_s,
                    job_timeout_s=job_timeout_s,
                )
            )

        yield build


def submitted(bot: ProviderBot) -> list[tuple[str, dict[str, Any]]]:
    """(endpoint, JSON body) of every submit the fake received."""
    return [(r.path.lstrip("/"), r.json()) for r in bot.fake.requests if r.method == "POST"]
