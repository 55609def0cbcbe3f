"""The fake Discord refuses what Discord refuses, so that the adapter tests can fail: a second
acknowledgement, a late one, a follow-up on an expired token, an upload above the limit, and
a rate limit discord.py will retry (429 with `Via` and `retry_after`)."""

from __future__ import annotations

import json

import httpx

from tests.fakes.discord import (
    APPLICATION_COMMAND,
    TOKEN,
    FakeDiscord,
    Interaction,
)


def interaction(fake: FakeDiscord, *, age_s: float = 0.0) -> Interaction:
    made = Interaction(
        id=fake.snowflake(),
        token=f"token-{fake.snowflake()}",
        type=APPLICATION_COMMAND,
        payload={},
        created_at=fake.now() - age_s,
        user=fake.owner,
        channel_id=fake.channel_id,
    )
    fake.interactions[made.id] = made
    return made


def callback_url(made: Interaction) -> str:
    return f"/interactions/{made.id}/{made.token}/callback?with_response=1"


async def test_acknowledgements_once_and_in_time() -> None:
    async with (
        FakeDiscord(ack_deadline_s=3.0) as fake,
        httpx.AsyncClient(base_url=fake.api_base) as http,
    ):
        made = interaction(fake)
        first = await http.post(callback_url(made), json={"type": 5, "data": {"flags": 64}})
        assert first.status_code == 200
        assert first.headers["Content-Type"] == "application/json"
        assert set(first.json()) == {"interaction", "resource"}

        second = await http.post(callback_url(made), json={"type": 5})
        assert (second.status_code, second.json()["code"]) == (400, 40060)

        late = interaction(fake, age_s=3.5)
        refused = await http.post(callback_url(late), json={"type": 5})
        assert (refused.status_code, refused.json()["code"]) == (404, 10062)
        assert fake.violations  # a test using the fake fails on these


async def test_the_interaction_token_dies_after_fifteen_minutes() -> None:
    async with FakeDiscord() as fake, httpx.AsyncClient(base_url=fake.api_base) as http:
        made = interaction(fake)
        await http.post(callback_url(made), json={"type": 5})
        followup = f"/webhooks/{fake.application_id}/{made.token}"
        assert (await http.post(followup, json={"content": "hi"})).status_code == 204

        fake.advance(15 * 60 + 1)
        expired = await http.post(followup, json={"content": "still there?"})
        assert (expired.status_code, expired.json()["code"]) == (401, 50027)


async def test_uploads_above_the_limit_are_refused_and_429_carries_via() -> None:
    async with (
        FakeDiscord(attachment_size_limit=1000) as fake,
        httpx.AsyncClient(
            base_url=fake.api_base, headers={"Authorization": f"Bot {TOKEN}"}
        ) as http,
    ):
        url = f"/channels/{fake.channel_id}/messages"
        files: dict[str, tuple[str | None, bytes, str]] = {
            "payload_json": (None, json.dumps({"content": "video"}).encode(), "application/json"),
            "files[0]": ("v.mp4", b"\0" * 1001, "application/octet-stream"),
        }
        too_big = await http.post(url, files=files)
        assert (too_big.status_code, too_big.json()["code"]) == (413, 40005)

        fake.rate_limit("POST", url, retry_after=0.25)
        limited = await http.post(url, json={"content": "hello"})
        assert limited.status_code == 429 and limited.headers["Via"]
        assert limited.json()["retry_after"] == 0.25
        assert (await http.post(url, json={"content": "hello"})).status_code == 200
