"""The Replicate adapter against its fake: the prediction input Replicate gets, field by field
(docs/providers.md §4), statuses, the output URL and its one-hour life, Standard Webhooks
signatures with the account's secret (fetched once), cancellation that stops the bill, the
rate limits waited out, and every failure ending refunded in plain words."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.providers import default_catalog
from adapters.providers.replicate import ReplicateProvider
from bot import webhooks
from bot.clock import SystemClock
from bot.errors import InvalidRequest
from bot.links import MediaLinks
from bot.media import load_image
from bot.models import GenerationRequest, Job, JobState
from bot.retry_after import MAX_WAIT_S
from bot.webhooks import InvalidSignature
from storage.sqlite import SqliteStore
from tests.fakes._base import Fault, sample_mp4
from tests.fakes.replicate import API_TOKEN, USERNAME, ReplicateFake
from tests.provider_bots import ProviderBot, provider_bot
from tests.support import eventually, png_bytes, run_cli

FAST = "google/veo-3.1-fast"
VEO31 = "google/veo-3.1"
FIRST = png_bytes(640, 360, (250, 10, 10))
LAST = png_bytes(640, 360, (10, 10, 250))
REF = png_bytes(320, 320, (10, 200, 10))
PREDICTIONS = "/v1/models/*/predictions"
SECRET_PATH = "/v1/webhooks/default/secret"

BotFactory = Callable[..., Awaitable[ProviderBot]]


class SkippingClock:
    """Wall-clock time the test can move on, shared by the bot and the fake (its rate window)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def skip(self, seconds: float) -> None:
        self.offset += seconds


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


@pytest.fixture
async def make_bot(store: SqliteStore, tmp_path: Path) -> AsyncIterator[BotFactory]:
    async with contextlib.AsyncExitStack() as stack:

        async def build(
            *,
            token: str = API_TOKEN,
            public: bool = False,
            poll_interval_s: float = 0.01,
            job_timeout_s: float = 600.0,
            configured_secret: bool = False,
            clock: SkippingClock | None = None,
            **options: Any,
        ) -> ProviderBot:
            if clock is not None:
                options["clock"] = clock.now
            fake = ReplicateFake(**{"job_duration_s": 0.06, **options})

            def make(links: MediaLinks) -> ReplicateProvider:
                # configured_secret: the operator set REPLICATE_WEBHOOK_SECRET to the account's.
                secret = fake.secret if configured_secret else None
                return ReplicateProvider(
                    token, links, base_url=fake.base_url, webhook_secret=secret
                )

            return await stack.enter_async_context(
                provider_bot(
                    store,
                    tmp_path,
                    fake,
                    make,
                    name="replicate",
                    public=public,
                    poll_interval_s=poll_interval_s,
                    job_timeout_s=job_timeout_s,
                    clock=clock,
                )
            )

        yield build


def created(bot: ProviderBot) -> list[tuple[str, dict[str, Any]]]:
    """(model, JSON body) of every prediction the fake was asked to create."""
    return [
        (r.path.removeprefix("/v1/models/").removesuffix("/predictions"), r.json())
        for r in bot.fake.received("POST", PREDICTIONS)
    ]


async def test_text_makes_a_prediction_and_its_output_reaches_the_channel(
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
            audio=True,
        )
    )

    bot.assert_delivered_once(job)
    assert await bot.ledger(job) == "settled"
    assert created(bot) == [
        (
            FAST,
            {
                "input": {
                    "prompt": "a paper boat drifts down a rainy street",
                    "aspect_ratio": "9:16",
                    "duration": 6,
                    "resolution": "720p",
                    "generate_audio": True,
                    "negative_prompt": "people",
                    "seed": 42,
                }
            },
        )
    ]
    [post] = bot.fake.received("POST", PREDICTIONS)
    assert post.headers["Authorization"] == f"Bearer {API_TOKEN}"
    assert job.provider_job_id in bot.fake.predictions
    polls = bot.fake.received("GET", "/v1/predictions/*")
    assert {p.path for p in polls} == {f"/v1/predictions/{job.provider_job_id}"}
    # The output lives on Replicate's delivery host: the token never goes there.
    assert bot.fake.received("GET", "/delivery/*") and not bot.fake.delivery_saw_authorization


@pytest.mark.parametrize(
    ("model", "inputs", "expected"),
    [
        (FAST, {"first_frame": FIRST}, {"image": data_uri(FIRST)}),
        (
            FAST,
            {"first_frame": FIRST, "last_frame": LAST},
            {"image": data_uri(FIRST), "last_frame": data_uri(LAST)},
        ),
        (
            VEO31,
            {"first_frame": FIRST, "last_frame": LAST},
            {"image": data_uri(FIRST), "last_frame": data_uri(LAST)},
        ),
        (
            VEO31,
            {"reference_images": (REF, FIRST)},
            {"reference_images": [data_uri(REF), data_uri(FIRST)]},
        ),
    ],
    ids=["fast-first", "fast-first-last", "veo31-first-last", "veo31-references"],
)
async def test_images_go_in_the_documented_inputs_as_data_uris(
    make_bot: BotFactory, model: str, inputs: dict[str, Any], expected: dict[str, Any]
) -> None:
    bot = await make_bot()
    images = {
        key: tuple(load_image(i) for i in value) if isinstance(value, tuple) else load_image(value)
        for key, value in inputs.items()
    }
    job = await bot.run(GenerationRequest(prompt="day turns to night", model=model, **images))

    bot.assert_delivered_once(job)
    [(path, body)] = created(bot)
    assert path == model
    sent = {
        k: v for k, v in body["input"].items() if k in ("image", "last_frame", "reference_images")
    }
    assert sent == expected
    assert body["input"]["duration"] == 8
    fetched = [FIRST, LAST] if "last_frame" in expected else [FIRST]
    assert bot.fake.fetched == ([REF, FIRST] if "reference_images" in expected else fetched)


async def test_with_a_public_url_images_are_signed_links_and_the_webhook_asks_for_completed(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(public=True)
    job = await bot.run(
        GenerationRequest(prompt="the lighthouse dims", model=VEO31, first_frame=load_image(FIRST))
    )

    bot.assert_delivered_once(job)
    [(_, body)] = created(bot)
    assert bot.public_url is not None
    assert body["input"]["image"].startswith(f"{bot.public_url}/media/{job.id}/first_frame/0?")
    assert bot.fake.fetched == [FIRST]
    assert body["webhook"] == bot.service.callback_url(job)
    assert body["webhook_events_filter"] == ["completed"]


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (
            GenerationRequest(
                prompt="p",
                model=VEO31,
                first_frame=load_image(FIRST),
                reference_images=(load_image(REF),),
            ),
            "reference images or frames, not both",
        ),
        (
            GenerationRequest(
                prompt="p", model=VEO31, aspect_ratio="9:16", reference_images=(load_image(REF),)
            ),
            "only at 16:9",
        ),
        (GenerationRequest(prompt="p", model=FAST, last_frame=load_image(LAST)), "first frame"),
    ],
    ids=["references-with-a-frame", "references-tall", "last-frame-alone"],
)
async def test_what_replicate_would_ignore_is_refused_before_anything_is_sent(
    make_bot: BotFactory, request_: GenerationRequest, words: str
) -> None:
    bot = await make_bot()
    job = await bot.run(request_)

    await bot.assert_failed_refunded(job, "provider_bad_request", words)
    assert created(bot) == []


@pytest.mark.parametrize(
    ("prompt", "code", "words"),
    [
        ("[fail] a glass city", "provider_failed", "could not make this video"),
        ("[rai] a famous face", "content_rejected", "safety filter refused"),
    ],
)
async def test_failed_predictions_are_refunded_in_plain_words(
    make_bot: BotFactory, prompt: str, code: str, words: str
) -> None:
    bot = await make_bot()
    job = await bot.run(GenerationRequest(prompt=prompt))

    await bot.assert_failed_refunded(job, code, words)
    assert bot.fake.charged == []


async def test_a_refused_token_and_spent_credit_are_for_an_admin(make_bot: BotFactory) -> None:
    bot = await make_bot(token="r8_wrong")
    job = await bot.run(GenerationRequest(prompt="a red balloon"))
    await bot.assert_failed_refunded(job, "provider_auth", "an admin needs to check it")
    assert len(created(bot)) == 1  # not retried

    broke = await make_bot(credit=0)
    job = await broke.run(GenerationRequest(prompt="a red balloon"))
    await broke.assert_failed_refunded(job, "provider_out_of_credits", "out of credits")


async def test_a_succeeded_reading_says_when_replicate_deletes_the_output() -> None:
    moment = [0.0]
    async with ReplicateFake(clock=lambda: moment[0], job_duration_s=1.0) as fake:
        provider = ReplicateProvider(
            API_TOKEN, MediaLinks(None, "s", SystemClock()), base_url=fake.base_url
        )
        request = default_catalog().validate(GenerationRequest(prompt="p"), provider="replicate")
        try:
            prediction_id = await provider.submit("j1", request, callback_url=None)
            moment[0] = 2.0
            status = await provider.get_status(prediction_id)
        finally:
            await provider.aclose()
        assert isinstance(fake, ReplicateFake)
        completed = fake.predictions[prediction_id].created_wall + 1.0
    assert status.url_expires_at is not None
    assert abs(status.url_expires_at - (completed + 3600)) < 1


async def test_an_output_past_replicates_hour_is_said_to_be_deleted(make_bot: BotFactory) -> None:
    bot = await make_bot(output_ttl_s=0)  # deleted the moment it is made
    job = await bot.run(GenerationRequest(prompt="a cat on a piano"))

    await bot.assert_failed_refunded(job, "provider_job_not_found", "keeps results for an hour")
    [prediction] = bot.fake.predictions.values()
    assert bot.fake.prediction_json(prediction)["data_removed"] is True


async def test_a_delivery_held_up_past_replicates_hour_posts_the_bots_own_copy(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    """The channel refuses the first posts (the platform is down, and says to come back in
    15 minutes) for longer than Replicate keeps outputs: the video still arrives, from the
    copy the bot downloaded as soon as the prediction succeeded, downloaded once."""
    clock = SkippingClock()
    bot = await make_bot(clock=clock)
    bot.surface.fail_deliveries = 2
    bot.surface.fail_retry_after = MAX_WAIT_S
    job = await bot.submit(GenerationRequest(prompt="a lighthouse at dusk"))

    async def waiting_after(failures: int) -> Job | None:
        current = await bot.service.get_job(job.id)
        assert current is not None and not current.state.is_terminal, current
        return current if current.delivery_failures == failures else None

    await eventually(lambda: waiting_after(1))
    clock.skip(3700)  # the platform stays down past Replicate's hour
    [prediction] = bot.fake.predictions.values()
    assert bot.fake.prediction_json(prediction)["data_removed"] is True
    await eventually(lambda: waiting_after(2))
    clock.skip(MAX_WAIT_S)
    done = await asyncio.wait_for(bot.service.wait_until_done(job.id), 10)

    bot.assert_delivered_once(done)
    assert await bot.ledger(done) == "settled"
    assert len(bot.fake.received("GET", "/delivery/*/output.mp4")) == 1
    # Delivered: the bot's copy is removed (nothing was kept for a link either).
    assert list((tmp_path / "downloads").rglob("*.mp4*")) == []


async def test_a_timed_out_job_is_cancelled_at_replicate_and_never_billed(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(job_timeout_s=0.3)
    job = await bot.run(GenerationRequest(prompt="[slow] a long night train"))

    assert job.state is JobState.TIMED_OUT and await bot.ledger(job) == "refunded"
    [cancel] = bot.fake.received("POST", "/v1/predictions/*/cancel")
    assert cancel.path == f"/v1/predictions/{job.provider_job_id}/cancel"
    assert cancel.headers["Authorization"] == f"Bearer {API_TOKEN}"
    assert bot.fake.predictions[job.provider_job_id or ""].cancelled_at is not None
    assert bot.fake.charged == []


async def test_cancel_says_whether_replicate_took_it() -> None:
    moment = [0.0]
    async with ReplicateFake(clock=lambda: moment[0], job_duration_s=3.0) as fake:
        provider = ReplicateProvider(
            API_TOKEN, MediaLinks(None, "s", SystemClock()), base_url=fake.base_url
        )
        catalog = default_catalog()
        try:
            running, done = [
                await provider.submit(
                    "j1",
                    catalog.validate(GenerationRequest(prompt=p), provider="replicate"),
                    callback_url=None,
                )
                for p in ("running", "done")
            ]
            moment[0] = 1.5
            assert await provider.cancel(running) is True
            moment[0] = 5.0
            assert await provider.cancel(done) is False  # already succeeded
            assert await provider.cancel("nosuchprediction") is False
        finally:
            await provider.aclose()
        assert isinstance(fake, ReplicateFake)
        assert fake.charged == [done]


async def test_create_rate_limits_are_waited_out_as_retry_after_says(
    make_bot: BotFactory,
) -> None:
    clock = SkippingClock()
    bot = await make_bot(clock=clock, create_per_min=1)
    first = await bot.run(GenerationRequest(prompt="one"))
    second = await bot.submit(GenerationRequest(prompt="two"))

    async def parked() -> Job | None:
        job = await bot.service.get_job(second.id)
        limited = job is not None and job.error_code == "provider_rate_limited"
        return job if limited else None

    waiting = await eventually(parked)
    assert len(bot.fake.received("POST", PREDICTIONS)) == 2 and waiting.due_at is not None
    # Not one create sooner than Replicate asked (the window frees ~60 s after the first).
    assert waiting.due_at - waiting.updated_at >= 55
    clock.skip(61)
    done = await asyncio.wait_for(bot.service.wait_until_done(second.id), 10)

    bot.assert_delivered_once(first)
    bot.assert_delivered_once(done)
    assert len(bot.fake.received("POST", PREDICTIONS)) == 3
    assert len(bot.fake.predictions) == 2


# --- webhooks -----------------------------------------------------------------------------


async def test_a_signed_webhook_delivers_at_once_and_the_secret_is_fetched_once(
    make_bot: BotFactory,
) -> None:
    # An hour between polls: only the webhooks can explain the deliveries.
    bot = await make_bot(public=True, poll_interval_s=3600)
    first = await bot.run(GenerationRequest(prompt="bees over lavender"))
    second = await bot.run(GenerationRequest(prompt="moths around a lamp"))

    bot.assert_delivered_once(first)
    bot.assert_delivered_once(second)
    for prediction in bot.fake.predictions.values():
        [(status, headers, body)] = prediction.webhooks
        assert status == 200 and body["status"] == "succeeded"
        assert headers["webhook-signature"].startswith("v1,")
    [fetch] = bot.fake.received("GET", SECRET_PATH)
    assert fetch.headers["Authorization"] == f"Bearer {API_TOKEN}"


async def test_a_configured_secret_is_used_without_asking_replicate(make_bot: BotFactory) -> None:
    bot = await make_bot(public=True, poll_interval_s=3600, configured_secret=True)
    job = await bot.run(GenerationRequest(prompt="bees over lavender"))

    bot.assert_delivered_once(job)
    assert bot.fake.received("GET", SECRET_PATH) == []


async def test_a_forged_webhook_is_refused_and_changes_nothing(make_bot: BotFactory) -> None:
    bot = await make_bot(public=True, poll_interval_s=3600, forge_webhooks=True)
    job = await bot.submit(GenerationRequest(prompt="bees over lavender"))

    async def sent() -> list[Any] | None:
        return [p for p in bot.fake.predictions.values() if p.webhooks] or None

    [prediction] = await eventually(sent)
    assert prediction.webhooks[0][0] == 401
    after = await bot.service.get_job(job.id)
    assert after is not None and after.state is JobState.SUBMITTED
    assert not bot.surface.of(job.id, "video")
    assert bot.fake.received("GET", "/v1/predictions/*") == []  # not even asked again
    metric = bot.service.metrics.value("veo_webhooks_rejected_total", reason="bad_signature")
    assert metric == 1


async def test_an_unreachable_secret_refuses_callbacks_and_is_not_hammered() -> None:
    async with ReplicateFake() as fake:
        assert isinstance(fake, ReplicateFake)
        provider = ReplicateProvider(
            API_TOKEN, MediaLinks(None, "s", SystemClock()), base_url=fake.base_url
        )
        body = b'{"id": "p1", "status": "succeeded"}'
        now = time.time()
        try:
            fake.inject(Fault(SECRET_PATH, 503, "Service Unavailable", "GET"))
            for second in range(30):  # a burst of callbacks while Replicate is down
                with pytest.raises(InvalidSignature, match="not known"):
                    await provider.verify_callback(
                        fake.signed_headers(body), body, now=now + second
                    )
            assert len(fake.received("GET", SECRET_PATH)) == 1
            await provider.verify_callback(fake.signed_headers(body), body, now=now + 61)
            assert len(fake.received("GET", SECRET_PATH)) == 2
            stale = fake.signed_headers(body)
            with pytest.raises(InvalidSignature, match="tolerance"):
                await provider.verify_callback(stale, body, now=now + 400)
            with pytest.raises(InvalidSignature, match="no signature matches"):
                await provider.verify_callback(stale, b'{"id": "p2"}', now=now + 62)
        finally:
            await provider.aclose()


async def test_the_fakes_signature_is_standard_webhooks() -> None:
    """Checked with the project's Standard Webhooks verifier and the fake's own secret."""
    async with ReplicateFake() as fake:
        assert isinstance(fake, ReplicateFake)
        body = b'{"id": "p1"}'
        headers = fake.signed_headers(body)
    assert webhooks.verify(fake.secret, headers, body, now=time.time()) == headers["webhook-id"]


# --- health, the fake's own strictness, the CLI ------------------------------------------


async def test_health_says_whether_replicate_answers_and_takes_the_token() -> None:
    links = MediaLinks(None, "s", SystemClock())
    async with ReplicateFake() as fake:
        good = ReplicateProvider(API_TOKEN, links, base_url=fake.base_url)
        bad = ReplicateProvider("r8_wrong", links, base_url=fake.base_url)
        try:
            ok, refused = await good.health(), await bad.health()
        finally:
            await good.aclose()
            await bad.aclose()
        port = fake.port
    assert (ok.reachable, ok.key_accepted) == (True, True) and USERNAME in ok.detail
    assert (refused.reachable, refused.key_accepted) == (True, False)
    assert "REPLICATE_API_TOKEN" in refused.detail and "r8_wrong" not in refused.detail
    down = ReplicateProvider(API_TOKEN, links, base_url=f"http://127.0.0.1:{port}")
    try:
        gone = await down.health()
    finally:
        await down.aclose()
    assert (gone.reachable, gone.key_accepted) == (False, None)


PROMPT = {"prompt": "p"}


@pytest.mark.parametrize(
    ("model", "body", "auth", "status", "words"),
    [
        (FAST, {"input": PROMPT | {"fps": 24}}, True, 422, "Additional property fps"),
        (FAST, {"input": PROMPT | {"duration": "8"}}, True, 422, "duration must be one of"),
        (FAST, {"input": PROMPT | {"resolution": "4k"}}, True, 422, "resolution must be one of"),
        (FAST, {"input": PROMPT | {"reference_images": []}}, True, 422, "Additional property"),
        (
            VEO31,
            {"input": PROMPT | {"reference_images": [data_uri(REF)], "aspect_ratio": "9:16"}},
            True,
            422,
            "only work at 16:9",
        ),
        (FAST, {"input": PROMPT | {"image": "data:image/png;base64,R0lG"}}, True, 422, "not a"),
        (FAST, {"input": {}}, True, 422, "prompt is required"),
        (FAST, {"input": PROMPT, "webhook": "http://bot.example/cb"}, True, 422, "HTTPS"),
        (FAST, {"input": PROMPT, "webhook_events_filter": ["done"]}, True, 422, "Events"),
        ("google/veo-9", {"input": PROMPT}, True, 404, "could not be found"),
        (FAST, {"input": PROMPT}, False, 401, "authentication token"),
        (FAST, {"input": PROMPT | {"seed": 1, "generate_audio": False}}, True, 201, "starting"),
    ],
)
async def test_the_fake_refuses_what_replicate_refuses(
    model: str, body: dict[str, Any], auth: bool, status: int, words: str
) -> None:
    async with ReplicateFake() as fake, httpx.AsyncClient(base_url=fake.base_url) as client:
        headers = {"Authorization": f"Bearer {API_TOKEN}"} if auth else {}
        answer = await client.post(f"/v1/models/{model}/predictions", json=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert words in answer.text


@pytest.mark.parametrize("frames", [(), ("--image",), ("--image", "--end-image")])
async def test_veo_bot_try_makes_an_mp4_through_the_fake(
    tmp_path: Path, frames: tuple[str, ...]
) -> None:
    first, last = tmp_path / "first.png", tmp_path / "last.png"
    first.write_bytes(FIRST)
    last.write_bytes(LAST)
    files = {"--image": str(first), "--end-image": str(last)}
    async with ReplicateFake(job_duration_s=0.1) as fake:
        result = await asyncio.to_thread(
            run_cli,
            tmp_path,
            "try",
            "a paper lantern rises",
            "--provider",
            "replicate",
            "--model",
            FAST,
            *[arg for flag in frames for arg in (flag, files[flag])],
            REPLICATE_API_TOKEN=API_TOKEN,
            REPLICATE_BASE_URL=fake.base_url,
        )
        [post] = fake.received("POST", PREDICTIONS)
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.suffix == ".mp4"
    assert await asyncio.to_thread(path.read_bytes) == sample_mp4()
    assert API_TOKEN not in result.stdout + result.stderr
    sent = post.json()["input"]
    assert ("image" in sent, "last_frame" in sent) == ("--image" in frames, "--end-image" in frames)


@pytest.mark.parametrize(
    ("request_", "field_"),
    [
        (
            GenerationRequest(prompt="p", model=FAST, reference_images=(load_image(REF),)),
            "references",
        ),
        (
            GenerationRequest(
                prompt="p", model=VEO31, duration_s=4, reference_images=(load_image(REF),)
            ),
            "duration",
        ),
        (GenerationRequest(prompt="p", model=VEO31, source_video="https://x/v.mp4"), "video"),
        (GenerationRequest(prompt="p", model=FAST, resolution="4k"), "resolution"),
    ],
)
async def test_the_catalog_refuses_what_the_models_do_not_take_before_anything_is_sent(
    make_bot: BotFactory, request_: GenerationRequest, field_: str
) -> None:
    bot = await make_bot()
    with pytest.raises(InvalidRequest) as refused:
        await bot.submit(request_)

    assert refused.value.field == field_
    assert bot.fake.requests == []
    assert await bot.service.store.recent_jobs(5) == []


def test_every_model_is_in_the_catalog_and_its_unverified_price_stays_unknown() -> None:
    specs = {spec.id: spec for spec in default_catalog().models("replicate")}
    assert set(specs) == {FAST, VEO31}
    prices = {i: (s.price_usd_per_s, s.price_usd_per_s_audio) for i, s in specs.items()}
    assert prices == {FAST: (None, None), VEO31: (None, None)}
    assert all(s.price_micro_usd(8) is None and s.price_source for s in specs.values())
    assert default_catalog().default_model("replicate").id == FAST
