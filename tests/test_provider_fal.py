"""The fal.ai adapter against its fake queue: the endpoint each kind of input goes to and the
JSON it gets, field by field (docs/providers.md §3), the request's own status / result /
cancel URLs, the MP4 the channel gets, Ed25519-signed webhooks verified against the JWKS
(cached, refreshed at most once a minute), cancellation that stops the bill, and every
failure ending refunded in plain words."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.providers import default_catalog
from adapters.providers.fal import FalProvider
from bot.clock import SystemClock
from bot.errors import InvalidRequest
from bot.links import MediaLinks
from bot.media import load_image
from bot.models import GenerationRequest, JobState, ProviderJobState
from bot.webhooks import InvalidSignature
from storage.sqlite import SqliteStore
from tests.fakes._base import sample_mp4
from tests.fakes.fal import API_KEY, JWKS_PATH, FalFake
from tests.provider_bots import ProviderBot, provider_bot
from tests.support import eventually, png_bytes, run_cli

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


async def test_text_goes_to_the_model_itself_and_the_mp4_reaches_the_channel(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    job = await bot.run(
        GenerationRequest(
            prompt="a paper boat drifts down a rainy street",
            negative_prompt="people",
            duration_s=6,
            aspect_ratio="9:16",
            seed=42,
        )
    )

    bot.assert_delivered_once(job)
    assert await bot.ledger(job) == "settled"
    assert submitted(bot) == [
        (
            FAST,
            {
                "prompt": "a paper boat drifts down a rainy street",
                "aspect_ratio": "9:16",
                "duration": "6s",
                "resolution": "720p",
                "generate_audio": False,
                "negative_prompt": "people",
                "seed": 42,
            },
        )
    ]
    [post] = [r for r in bot.fake.requests if r.method == "POST"]
    assert post.headers["Authorization"] == f"Key {API_KEY}" and "fal_webhook" not in post.query
    [request_id] = bot.fake.requests_by_id
    # The status and result URLs the submit answer named: the app, without the sub-path.
    polls = bot.fake.received("GET", "/fal-ai/*/status")
    assert {p.path for p in polls} == {f"/fal-ai/veo3.1/requests/{request_id}/status"}
    assert all(p.headers["Authorization"] == f"Key {API_KEY}" for p in polls)
    assert bot.fake.received("GET", f"/fal-ai/veo3.1/requests/{request_id}")
    # The video comes from fal's CDN, another host: the key never goes there.
    assert bot.fake.received("GET", "/files/*") and not bot.fake.cdn_saw_authorization
    assert job.provider_job_id is not None
    assert json.loads(job.provider_job_id)["id"] == request_id


@pytest.mark.parametrize(
    ("model", "frames", "endpoint"),
    [
        (FAST, "first", "fal-ai/veo3.1/fast/image-to-video"),
        (FAST, "first+last", "fal-ai/veo3.1/fast/first-last-frame-to-video"),
        (VEO31, "first", "fal-ai/veo3.1/image-to-video"),
        (VEO31, "first+last", "fal-ai/veo3.1/first-last-frame-to-video"),
        (LITE, "none", "fal-ai/veo3.1/lite"),
        (LITE, "first", "fal-ai/veo3.1/lite/image-to-video"),
        (LITE, "first+last", "fal-ai/veo3.1/lite/first-last-frame-to-video"),
    ],
)
async def test_the_inputs_pick_the_endpoint_and_images_go_as_data_uris(
    make_bot: BotFactory, model: str, frames: str, endpoint: str
) -> None:
    bot = await make_bot()
    first = load_image(FIRST) if frames != "none" else None
    last = load_image(LAST) if frames == "first+last" else None
    job = await bot.run(
        GenerationRequest(
            prompt="day turns to night", model=model, first_frame=first, last_frame=last
        )
    )

    bot.assert_delivered_once(job)
    [(path, body)] = submitted(bot)
    assert path == endpoint
    images = {k: v for k, v in body.items() if k.endswith("_url")}
    if frames == "first":
        assert images == {"image_url": data_uri(FIRST)}
    elif frames == "first+last":
        assert images == {"first_frame_url": data_uri(FIRST), "last_frame_url": data_uri(LAST)}
    else:
        assert images == {}
    assert bot.fake.fetched == [FIRST, LAST][: len(images)]
    # Whatever the endpoint, status lives under the app alone.
    app = "/".join(endpoint.split("/")[:2])
    assert {p.path.rsplit("/", 2)[0] for p in bot.fake.received("GET", "/*/status")} == {
        f"/{app}/requests"
    }


async def test_with_a_public_url_images_go_as_signed_links_the_fake_follows(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(public=True)
    job = await bot.run(
        GenerationRequest(
            prompt="the lighthouse dims as the sun rises",
            model=VEO31,
            resolution="1080p",
            audio=True,
            first_frame=load_image(FIRST),
            last_frame=load_image(LAST),
        )
    )

    bot.assert_delivered_once(job)
    [(path, body)] = submitted(bot)
    assert path == "fal-ai/veo3.1/first-last-frame-to-video"
    assert bot.public_url is not None
    for field_, role in (("first_frame_url", "first_frame"), ("last_frame_url", "last_frame")):
        assert body[field_].startswith(f"{bot.public_url}/media/{job.id}/{role}/0?expires=")
    assert body["resolution"] == "1080p" and body["generate_audio"] is True
    assert bot.fake.fetched == [FIRST, LAST]  # fetched through the links, as fal does
    # With a public URL the request asks fal to call back.
    [post] = [r for r in bot.fake.requests if r.method == "POST"]
    assert post.query["fal_webhook"] == bot.service.callback_url(job)


async def test_reference_images_go_to_reference_to_video_at_eight_seconds(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    job = await bot.run(
        GenerationRequest(
            prompt="the green robot waters the fern",
            model=VEO31,
            reference_images=(load_image(REF), load_image(FIRST)),
        )
    )

    bot.assert_delivered_once(job)
    [(path, body)] = submitted(bot)
    assert path == "fal-ai/veo3.1/reference-to-video"
    assert body["image_urls"] == [data_uri(REF), data_uri(FIRST)]
    assert body["duration"] == "8s"


async def test_extend_sends_the_earlier_result_to_extend_video(make_bot: BotFactory) -> None:
    bot = await make_bot()
    first = await bot.run(GenerationRequest(prompt="a kite climbs", model=FAST))
    bot.assert_delivered_once(first)
    assert first.result_url is not None

    extended = await bot.run(
        GenerationRequest(prompt="the kite loops", model=FAST, source_video=first.result_url)
    )

    bot.assert_delivered_once(extended)
    path, body = submitted(bot)[1]
    assert path == "fal-ai/veo3.1/fast/extend-video"
    assert body == {
        "prompt": "the kite loops",
        "video_url": first.result_url,
        "generate_audio": False,
        "seed": extended.request.seed,
    }
    assert bot.fake.fetched == [bot.fake.video]  # fal fetched the earlier video


async def test_a_last_frame_without_a_first_is_refused_before_anything_is_sent(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    job = await bot.run(GenerationRequest(prompt="dusk", model=FAST, last_frame=load_image(LAST)))

    await bot.assert_failed_refunded(job, "provider_bad_request", "first frame")
    assert submitted(bot) == []


@pytest.mark.parametrize(
    ("prompt", "code", "words"),
    [
        ("[fail] a glass city", "provider_failed", "could not make this video"),
        ("[rai] a famous face", "content_rejected", "content checker refused"),
        ("[nourl] a glass city", "no_output", "without returning a video"),
    ],
)
async def test_failed_runs_are_refunded_in_plain_words(
    make_bot: BotFactory, prompt: str, code: str, words: str
) -> None:
    bot = await make_bot()
    job = await bot.run(GenerationRequest(prompt=prompt))

    await bot.assert_failed_refunded(job, code, words)
    assert bot.fake.charged == []


async def test_a_refused_key_and_a_spent_balance_are_for_an_admin(make_bot: BotFactory) -> None:
    bot = await make_bot(key="fal-wrong:key")
    job = await bot.run(GenerationRequest(prompt="a red balloon"))
    await bot.assert_failed_refunded(job, "provider_auth", "an admin needs to check it")
    assert len(submitted(bot)) == 1  # not retried

    broke = await make_bot(balance=0)
    job = await broke.run(GenerationRequest(prompt="a red balloon"))
    await broke.assert_failed_refunded(job, "provider_out_of_credits", "out of credits")


async def test_request_urls_on_another_host_never_get_the_key(make_bot: BotFactory) -> None:
    bot = await make_bot(foreign_urls=True)
    job = await bot.run(GenerationRequest(prompt="a heron takes off"))

    assert job.state is JobState.FAILED and await bot.ledger(job) == "refunded"
    foreign = [r for r in bot.fake.requests if r.headers.get("Host", "").startswith("localhost")]
    assert foreign == []  # nothing at all was sent to the host the answer named


async def test_the_queue_position_is_shown_while_the_request_waits(tmp_path: Path) -> None:
    moment = [0.0]  # the fake's clock: still, so the request stays third in line
    async with FalFake(queue_ahead=3, clock=lambda: moment[0], job_duration_s=1.0) as fake:
        assert isinstance(fake, FalFake)
        cli = asyncio.create_task(
            asyncio.to_thread(
                run_cli,
                tmp_path,
                "try",
                "a lantern rises",
                "--provider",
                "fal",
                FAL_KEY=API_KEY,
                FAL_QUEUE_URL=fake.base_url,
                FAL_JWKS_URL=fake.base_url + JWKS_PATH,
            )
        )

        async def polled() -> bool | None:
            return True if fake.received("GET", "/fal-ai/*/status") else None

        await eventually(polled, timeout_s=60)
        moment[0] = 10.0  # now the request runs and finishes
        result = await cli
    assert result.returncode == 0, result.stderr
    assert "submitted 0% (queued at the provider — 3 ahead)" in result.stderr


async def test_a_timed_out_job_is_cancelled_at_fal_and_never_billed(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(job_timeout_s=0.3)
    job = await bot.run(GenerationRequest(prompt="[slow] a long night train"))

    assert job.state is JobState.TIMED_OUT and await bot.ledger(job) == "refunded"
    [request_id] = bot.fake.requests_by_id
    [cancel] = bot.fake.received("PUT", "/fal-ai/*/cancel")
    assert cancel.path == f"/fal-ai/veo3.1/requests/{request_id}/cancel"
    assert cancel.headers["Authorization"] == f"Key {API_KEY}"
    assert bot.fake.requests_by_id[request_id].cancelled_at is not None
    assert bot.fake.charged == []


async def test_cancel_says_whether_fal_took_it(tmp_path: Path) -> None:
    moment = [0.0]
    async with FalFake(clock=lambda: moment[0], job_duration_s=3.0) as fake:
        assert isinstance(fake, FalFake)
        provider = fal_provider(fake, MediaLinks(None, "s", SystemClock()))
        catalog = default_catalog()
        try:
            ids = [
                await provider.submit(
                    "j1",
                    catalog.validate(GenerationRequest(prompt=p), provider="fal"),
                    callback_url=None,
                )
                for p in ("queued", "running", "done")
            ]
            assert await provider.cancel(ids[0]) is True  # queued: dropped ("OK")
            moment[0] = 1.5
            assert await provider.cancel(ids[1]) is True  # running: CANCELLATION_REQUESTED
            moment[0] = 5.0
            assert await provider.cancel(ids[2]) is False  # ALREADY_COMPLETED
            unknown = json.loads(ids[2])
            unknown["cancel"] = unknown["cancel"].replace(unknown["id"], str(uuid.uuid4()))
            assert await provider.cancel(json.dumps(unknown)) is False  # NOT_FOUND
            assert len(fake.received("PUT", "/fal-ai/*/cancel")) == 4
            cancelled = await provider.get_status(ids[0])
            assert cancelled.state is ProviderJobState.FAILED
            assert cancelled.error_code == "provider_cancelled"
            assert fake.charged == [json.loads(ids[2])["id"]]  # only the one that finished
        finally:
            await provider.aclose()


# --- webhooks -----------------------------------------------------------------------------


async def test_a_signed_webhook_makes_the_bot_deliver_without_waiting_for_a_poll(
    make_bot: BotFactory,
) -> None:
    # An hour between polls: only the webhook can explain a delivery.
    bot = await make_bot(public=True, poll_interval_s=3600)
    job = await bot.run(GenerationRequest(prompt="bees over lavender"))

    bot.assert_delivered_once(job)
    [request] = bot.fake.requests_by_id.values()
    [(status, body)] = request.webhooks
    assert status == 200 and body["status"] == "OK" and body["request_id"] == request.id
    assert len(bot.fake.received("GET", JWKS_PATH)) == 1


@pytest.mark.parametrize(
    "options", [{"forge_webhooks": True}, {"webhook_skew_s": -600.0}], ids=["forged", "stale"]
)
async def test_a_forged_or_stale_webhook_is_refused_and_changes_nothing(
    make_bot: BotFactory, options: dict[str, Any]
) -> None:
    bot = await make_bot(public=True, poll_interval_s=3600, **options)
    job = await bot.submit(GenerationRequest(prompt="bees over lavender"))
    [request] = await eventually(lambda: _webhooks_sent(bot))

    assert request.webhooks[0][0] == 401
    after = await bot.service.get_job(job.id)
    assert after is not None and after.state is JobState.SUBMITTED
    assert not bot.surface.of(job.id, "video")
    # Refused before the provider was asked again: one status reading, the submit's own none.
    assert bot.fake.received("GET", "/fal-ai/*/status") == []
    metric = bot.service.metrics.value("veo_webhooks_rejected_total", reason="bad_signature")
    assert metric == 1


async def _webhooks_sent(bot: ProviderBot) -> list[Any] | None:
    sent = [r for r in bot.fake.requests_by_id.values() if r.webhooks]
    return sent or None


def _signed(fake: FalFake, body: bytes, request_id: str = "req-1") -> dict[str, str]:
    return fake.signed_headers(request_id, body)


async def test_the_key_set_is_cached_and_refetched_at_most_once_a_minute(tmp_path: Path) -> None:
    now = time.time()
    async with FalFake() as fake:
        assert isinstance(fake, FalFake)
        provider = fal_provider(fake, MediaLinks(None, "s", SystemClock()))
        body = b'{"status": "OK"}'
        fetches = lambda: len(fake.received("GET", JWKS_PATH))  # noqa: E731
        try:
            await provider.verify_callback(_signed(fake, body), body, now=now)
            await provider.verify_callback(_signed(fake, body), body, now=now + 1)
            assert fetches() == 1  # cached

            fake.forge_webhooks = True
            for second in range(2, 60):  # a flood of forgeries within the minute
                with pytest.raises(InvalidSignature):
                    await provider.verify_callback(_signed(fake, body), body, now=now + second)
            assert fetches() == 1  # not one more fetch for them

            fake.forge_webhooks = False
            fake.rotate_key()  # fal signs with a key the bot has not seen
            with pytest.raises(InvalidSignature):  # too soon to fetch again
                await provider.verify_callback(_signed(fake, body), body, now=now + 59)
            await provider.verify_callback(_signed(fake, body), body, now=now + 61)
            assert fetches() == 2  # one fetch found the new key
        finally:
            await provider.aclose()


async def test_a_second_key_host_is_asked_when_the_first_fails(tmp_path: Path) -> None:
    now = time.time()
    async with FalFake() as fake:
        assert isinstance(fake, FalFake)
        provider = FalProvider(
            API_KEY,
            MediaLinks(None, "s", SystemClock()),
            queue_url=fake.base_url,
            jwks_urls=(fake.base_url + "/missing/jwks.json", fake.base_url + JWKS_PATH),
        )
        body = b"{}"
        try:
            await provider.verify_callback(_signed(fake, body), body, now=now)
        finally:
            await provider.aclose()
        assert [r.path for r in fake.requests] == ["/missing/jwks.json", JWKS_PATH]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"X-Fal-Webhook-Signature": "00" * 64}, "no fal key"),
        ({"X-Fal-Webhook-Signature": "not hex"}, "not hex"),
        ({"X-Fal-Webhook-Timestamp": "soon"}, "not a number"),
        ({"X-Fal-Webhook-Request-Id": "req-2"}, "no fal key"),
        ({"X-Fal-Webhook-User-Id": ""}, "missing"),
    ],
)
async def test_a_tampered_signature_is_refused(change: dict[str, str], why: str) -> None:
    async with FalFake() as fake:
        assert isinstance(fake, FalFake)
        provider = fal_provider(fake, MediaLinks(None, "s", SystemClock()))
        body = b'{"status": "OK"}'
        try:
            headers = _signed(fake, body) | change
            with pytest.raises(InvalidSignature, match=why):
                await provider.verify_callback(headers, body, now=time.time())
            with pytest.raises(InvalidSignature, match="no fal key"):  # another body
                await provider.verify_callback(_signed(fake, body), b"{}", now=time.time() + 61)
        finally:
            await provider.aclose()


# --- health, the fake's own strictness, the CLI ------------------------------------------


async def test_health_says_whether_the_queue_answers_and_takes_the_key() -> None:
    async with FalFake() as fake:
        assert isinstance(fake, FalFake)
        links = MediaLinks(None, "s", SystemClock())
        good = fal_provider(fake, links)
        bad = FalProvider("fal-wrong:key", links, queue_url=fake.base_url)
        try:
            ok, refused = await good.health(), await bad.health()
        finally:
            await good.aclose()
            await bad.aclose()
        port = fake.port
    assert (ok.reachable, ok.key_accepted) == (True, True)
    assert (refused.reachable, refused.key_accepted) == (True, False)
    assert "FAL_KEY" in refused.detail and "fal-wrong" not in refused.detail
    down = FalProvider(API_KEY, links, queue_url=f"http://127.0.0.1:{port}")
    try:
        gone = await down.health()
    finally:
        await down.aclose()
    assert (gone.reachable, gone.key_accepted) == (False, None)


GIF = "data:image/png;base64," + base64.b64encode(b"GIF89a\x01\x00\x01\x00").decode()


@pytest.mark.parametrize(
    ("endpoint", "body", "auth", "status", "words"),
    [
        (FAST, {"prompt": "p", "image_url": data_uri(FIRST)}, True, 422, "extra_forbidden"),
        (f"{FAST}/image-to-video", {"prompt": "p"}, True, 422, "field required"),
        (FAST, {"prompt": "p", "duration": 8}, True, 422, "literal_error"),
        (FAST, {"prompt": "p", "duration": "5s"}, True, 422, "literal_error"),
        (LITE, {"prompt": "p", "resolution": "4k"}, True, 422, "literal_error"),
        (FAST, {"prompt": "p", "aspect_ratio": "auto"}, True, 422, "literal_error"),
        (f"{FAST}/image-to-video", {"prompt": "p", "image_url": GIF}, True, 422, "not a PNG"),
        (f"{FAST}/reference-to-video", {"prompt": "p"}, True, 404, "not found"),
        (f"{VEO31}/extend-video", {"prompt": "p", "video_url": data_uri(FIRST)}, True, 422, "MP4"),
        (FAST, {"prompt": "p"}, False, 401, "No user found"),
        (FAST, {"prompt": "p", "seed": 7, "generate_audio": True}, True, 200, "IN_QUEUE"),
    ],
)
async def test_the_fake_refuses_what_fal_refuses(
    endpoint: str, body: dict[str, Any], auth: bool, status: int, words: str
) -> None:
    async with FalFake() as fake, httpx.AsyncClient(base_url=fake.base_url) as client:
        headers = {"Authorization": f"Key {API_KEY}"} if auth else {}
        answer = await client.post(f"/{endpoint}", json=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert words in answer.text


async def test_the_fakes_webhook_signature_is_what_fal_documents() -> None:
    """The recipe, checked with the public key alone: Ed25519 over request id, user id,
    timestamp and the body's SHA-256, joined by newlines."""
    async with FalFake() as fake:
        assert isinstance(fake, FalFake)
        body = b'{"request_id": "r"}'
        headers = fake.signed_headers("r", body)
        jwk = fake.signing_key.public_key()
    message = "\n".join(
        (
            "r",
            headers["X-Fal-Webhook-User-Id"],
            headers["X-Fal-Webhook-Timestamp"],
            hashlib.sha256(body).hexdigest(),
        )
    ).encode()
    jwk.verify(bytes.fromhex(headers["X-Fal-Webhook-Signature"]), message)


@pytest.mark.parametrize("frames", [(), ("--image",), ("--image", "--end-image")])
async def test_veo_bot_try_makes_an_mp4_through_the_fake(
    tmp_path: Path, frames: tuple[str, ...]
) -> None:
    first, last = tmp_path / "first.png", tmp_path / "last.png"
    first.write_bytes(FIRST)
    last.write_bytes(LAST)
    files = {"--image": str(first), "--end-image": str(last)}
    async with FalFake(job_duration_s=0.1) as fake:
        result = await asyncio.to_thread(
            run_cli,
            tmp_path,
            "try",
            "a paper lantern rises",
            "--provider",
            "fal",
            "--model",
            FAST,
            *[arg for flag in frames for arg in (flag, files[flag])],
            FAL_KEY=API_KEY,
            FAL_QUEUE_URL=fake.base_url,
            FAL_JWKS_URL=fake.base_url + JWKS_PATH,
        )
        [post] = [r for r in fake.requests if r.method == "POST"]
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.suffix == ".mp4"
    assert await asyncio.to_thread(path.read_bytes) == sample_mp4()
    assert API_KEY not in result.stdout + result.stderr
    expected = {
        (): FAST,
        ("--image",): f"{FAST}/image-to-video",
        ("--image", "--end-image"): f"{FAST}/first-last-frame-to-video",
    }[frames]
    assert post.path == f"/{expected}"


@pytest.mark.parametrize(
    ("request_", "field_"),
    [
        (
            GenerationRequest(prompt="p", model=FAST, reference_images=(load_image(REF),)),
            "references",
        ),
        (
            GenerationRequest(
                prompt="p", model=VEO31, duration_s=6, reference_images=(load_image(REF),)
            ),
            "duration",
        ),
        (GenerationRequest(prompt="p", model=LITE, resolution="4k"), "resolution"),
        (GenerationRequest(prompt="p", model=FAST, aspect_ratio="1:1"), "aspect_ratio"),
    ],
)
async def test_the_catalog_refuses_what_the_endpoints_do_not_take_before_anything_is_sent(
    make_bot: BotFactory, request_: GenerationRequest, field_: str
) -> None:
    bot = await make_bot()
    with pytest.raises(InvalidRequest) as refused:
        await bot.submit(request_)

    assert refused.value.field == field_
    assert bot.fake.requests == []
    assert await bot.service.store.recent_jobs(5) == []


def test_every_model_is_in_the_catalog_with_its_price_per_second() -> None:
    specs = {spec.id: spec for spec in default_catalog().models("fal")}
    assert set(specs) == {FAST, VEO31, LITE}
    prices = {i: (s.price_usd_per_s, s.price_usd_per_s_audio) for i, s in specs.items()}
    assert prices == {FAST: (0.10, 0.15), VEO31: (0.20, 0.40), LITE: (0.05, None)}
    assert default_catalog().default_model("fal").id == FAST
