"""The Vertex AI (Veo 3.1) adapter against its fake: the service-account grant the token
endpoint verifies, the JSON Vertex gets for every input kind (docs/providers.md §1.4), the
inline video streamed and decoded from the operation, results in Cloud Storage, and every
failure ending refunded in plain words."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt
from PIL import Image

from adapters.providers.vertex import (
    SCOPE,
    VertexProvider,
    base_url_for,
    service_account_credentials,
)
from adapters.providers.vertex._operation import Head, Reader, inline_video, read_head
from bot import app
from bot.cli import main
from bot.errors import (
    InvalidRequest,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderUnavailable,
)
from bot.jobs import JobService
from bot.media import load_image
from bot.models import GenerationRequest, Job, JobState
from bot.scheduler import Scheduler
from bot.settings import Settings
from storage.sqlite import SqliteStore
from tests.fakes import vertex
from tests.fakes._base import sample_mp4
from tests.fakes.vertex import (
    BUCKET,
    CLIENT_EMAIL,
    KEY_ID,
    OUTPUT_URI,
    PROJECT,
    RAI_REASON,
    VertexFake,
    key_file_info,
)
from tests.support import KeepingSurface, make_service, origin, png_bytes, run_cli

FAST = "veo-3.1-fast-generate-001"
VEO31 = "veo-3.1-generate-001"
LITE = "veo-3.1-lite-generate-001"
MODELS_PATH = f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models"
SUBMIT = "/v1/projects/*:predictLongRunning"
FETCH = "/v1/projects/*:fetchPredictOperation"
STORAGE = "/storage/v1/b/*"


class SkippingClock:
    """Wall-clock time the test can move forward, for the adapter's token cache."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Bot:
    fake: VertexFake
    provider: VertexProvider
    service: JobService
    surface: KeepingSurface
    store: SqliteStore

    async def run(self, request: GenerationRequest) -> Job:
        job = await self.service.submit(request, origin())
        return await asyncio.wait_for(self.service.wait_until_done(job.id), 20)

    async def ledger(self, job: Job) -> str:
        rows = await self.store.ledger([job.id])
        assert len(rows) == 1
        return str(rows[0]["status"])

    def submitted(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.fake.received("POST", SUBMIT)]

    def failure(self, job: Job) -> str:
        posts = self.surface.of(job.id, "failure")
        assert len(posts) == 1 and not self.surface.of(job.id, "video")
        return posts[0].text

    def assert_delivered_once(self, job: Job) -> None:
        assert job.state is JobState.DELIVERED, (job.error_code, job.error_message)
        assert self.surface.videos[job.id] == [self.fake.video]

    def tokens_used(self, pattern: str = "/*") -> set[str]:
        return {
            r.headers.get("Authorization", "")
            for r in self.fake.requests
            if r.path != "/token" and re.fullmatch(pattern.replace("*", ".*"), r.path)
        }


BotFactory = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def make_bot(store: SqliteStore, tmp_path: Path) -> AsyncIterator[BotFactory]:
    async with contextlib.AsyncExitStack() as stack:

        async def build(
            *,
            gcs: bool = False,
            clock: Callable[[], float] = time.time,
            location: str = "us-central1",
            **options: Any,
        ) -> Bot:
            fake = vertex.create(job_duration_s=0.06, **options)
            await fake.start()
            stack.push_async_callback(fake.close)
            provider = VertexProvider(
                PROJECT,
                service_account_credentials(key_file_info(f"{fake.base_url}/token")),
                location=location,
                base_url=fake.base_url,
                output_gcs_uri=OUTPUT_URI if gcs else None,
                gcs_base_url=fake.base_url,
                clock=clock,
            )
            stack.push_async_callback(provider.aclose)
            surface = KeepingSurface()
            service = make_service(
                store,
                tmp_path,
                providers={"vertex": provider},
                surfaces={"chat": surface},
                default_provider="vertex",
                vertex_extend=gcs,
            )
            scheduler = Scheduler(service, idle_s=0.02)
            await scheduler.start()
            stack.push_async_callback(scheduler.stop)
            return Bot(fake, provider, service, surface, store)

        yield build


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def image_bytes(fmt: str, color: tuple[int, int, int] = (40, 90, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 180), color).save(buf, format=fmt)
    return buf.getvalue()


def assert_plain(message: str) -> None:
    """Words for people: no HTTP codes, no Google status names, no JSON."""
    assert not re.search(r"\b[1-5]\d\d\b", message), message
    assert not re.search(r"\b[A-Z]+_[A-Z_]+\b", message), message
    assert "{" not in message and "error" not in message.lower(), message


# --- what Vertex gets ---------------------------------------------------------------------


async def test_text_to_video_sends_the_documented_body_with_a_verified_token(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    job = await bot.run(
        GenerationRequest(
            prompt="a paper boat drifts down a rainy street",
            negative_prompt="people",
            duration_s=6,
            aspect_ratio="9:16",
            seed=1234,
        )
    )

    bot.assert_delivered_once(job)
    assert await bot.ledger(job) == "settled"
    [submit] = bot.fake.received("POST", SUBMIT)
    assert submit.path == f"{MODELS_PATH}/{FAST}:predictLongRunning"
    assert submit.json() == {
        "instances": [{"prompt": "a paper boat drifts down a rainy street"}],
        "parameters": {
            "aspectRatio": "9:16",
            "sampleCount": 1,
            "durationSeconds": 6,
            "resolution": "720p",
            "generateAudio": False,
            "seed": 1234,
            "negativePrompt": "people",
            "personGeneration": "allow_adult",
        },
    }
    # One grant, signed by the key and checked by the token endpoint, as google-auth makes it.
    [grant] = bot.fake.grants
    assert grant.header["alg"] == "RS256" and grant.header["kid"] == KEY_ID
    assert grant.claims["iss"] == CLIENT_EMAIL
    assert grant.claims["aud"] == "https://oauth2.googleapis.com/token"
    assert grant.claims["scope"] == SCOPE
    [token] = bot.fake.received("POST", "/token")
    assert token.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert bot.tokens_used() == {f"Bearer {grant.issued}"}
    # Polled with fetchPredictOperation on the operation's own model path.
    assert job.provider_job_id is not None
    assert re.fullmatch(
        rf"{MODELS_PATH[1:].removeprefix('v1/')}/{FAST}/operations/\w+", job.provider_job_id
    )
    polls = bot.fake.received("POST", FETCH)
    assert len(polls) >= 2
    assert {p.path for p in polls} == {f"{MODELS_PATH}/{FAST}:fetchPredictOperation"}
    assert all(p.json() == {"operationName": job.provider_job_id} for p in polls)


async def test_a_first_frame_with_sound_at_1080p(make_bot: BotFactory) -> None:
    bot = await make_bot()
    first = png_bytes(320, 180, (10, 120, 200))
    job = await bot.run(
        GenerationRequest(
            prompt="the lighthouse beam sweeps the fog",
            model=VEO31,
            resolution="1080p",
            audio=True,
            first_frame=load_image(first),
        )
    )

    bot.assert_delivered_once(job)
    [body] = bot.submitted()
    assert body["instances"] == [
        {
            "prompt": "the lighthouse beam sweeps the fog",
            "image": {"bytesBase64Encoded": b64(first), "mimeType": "image/png"},
        }
    ]
    parameters = body["parameters"]
    assert (parameters["resolution"], parameters["durationSeconds"]) == ("1080p", 8)
    assert parameters["generateAudio"] is True
    assert bot.fake.received("POST", SUBMIT)[0].path.endswith(f"/{VEO31}:predictLongRunning")


async def test_first_and_last_frame_and_webp_becomes_png(make_bot: BotFactory) -> None:
    bot = await make_bot()
    first, last = image_bytes("JPEG", (200, 40, 40)), image_bytes("WEBP", (40, 40, 200))
    job = await bot.run(
        GenerationRequest(
            prompt="day turns to night over the bay",
            model=LITE,
            duration_s=4,
            first_frame=load_image(first),
            last_frame=load_image(last),
        )
    )

    bot.assert_delivered_once(job)
    [body] = bot.submitted()
    instance = body["instances"][0]
    assert instance["image"] == {"bytesBase64Encoded": b64(first), "mimeType": "image/jpeg"}
    # Vertex takes PNG and JPEG: the WebP arrives as the same picture in PNG.
    assert instance["lastFrame"]["mimeType"] == "image/png"
    converted = Image.open(
        io.BytesIO(base64.b64decode(instance["lastFrame"]["bytesBase64Encoded"]))
    )
    assert converted.format == "PNG" and converted.size == (320, 180)
    assert converted.convert("RGB").getpixel((160, 90)) == Image.open(io.BytesIO(last)).convert(
        "RGB"
    ).getpixel((160, 90))
    assert body["parameters"]["durationSeconds"] == 4


async def test_reference_images_are_assets_at_eight_seconds(make_bot: BotFactory) -> None:
    bot = await make_bot()
    refs = [png_bytes(color=(250, 200, 0)), image_bytes("JPEG", (0, 90, 30))]
    job = await bot.run(
        GenerationRequest(
            prompt="the yellow robot waters the fern",
            model=VEO31,
            reference_images=tuple(load_image(r) for r in refs),
        )
    )

    bot.assert_delivered_once(job)
    [body] = bot.submitted()
    assert body["instances"] == [
        {
            "prompt": "the yellow robot waters the fern",
            "referenceImages": [
                {
                    "image": {"bytesBase64Encoded": b64(refs[0]), "mimeType": "image/png"},
                    "referenceType": "asset",
                },
                {
                    "image": {"bytesBase64Encoded": b64(refs[1]), "mimeType": "image/jpeg"},
                    "referenceType": "asset",
                },
            ],
        }
    ]
    assert body["parameters"]["durationSeconds"] == 8


REFERENCE = load_image(png_bytes(color=(90, 90, 90)))


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (
            GenerationRequest(
                prompt="a robot", model=VEO31, aspect_ratio="9:16", reference_images=(REFERENCE,)
            ),
            "16:9 only",
        ),
        (
            GenerationRequest(
                prompt="a robot", model=VEO31, negative_prompt="rust", reference_images=(REFERENCE,)
            ),
            "negative",
        ),
        (
            GenerationRequest(prompt="a robot", extras={"person_generation": "everyone"}),
            "people in videos",
        ),
    ],
    ids=["references at 9:16", "references with a negative prompt", "unknown person setting"],
)
async def test_what_vertex_refuses_is_refused_before_it_is_sent(
    make_bot: BotFactory, request_: GenerationRequest, words: str
) -> None:
    bot = await make_bot()
    job = await bot.run(request_)

    assert job.state is JobState.FAILED and job.error_code == "provider_bad_request"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert words in message
    assert_plain(message)
    assert bot.fake.received("POST", SUBMIT) == []


async def test_the_workspace_person_setting_is_sent(make_bot: BotFactory) -> None:
    bot = await make_bot()
    job = await bot.run(
        GenerationRequest(prompt="an empty market", extras={"person_generation": "dont_allow"})
    )

    bot.assert_delivered_once(job)
    assert bot.submitted()[0]["parameters"]["personGeneration"] == "dont_allow"


async def test_lite_takes_no_reference_images(make_bot: BotFactory) -> None:
    bot = await make_bot()
    with pytest.raises(InvalidRequest) as refused:
        await bot.service.submit(
            GenerationRequest(
                prompt="a fox", model=LITE, reference_images=(load_image(png_bytes()),)
            ),
            origin(),
        )

    assert refused.value.field == "references"
    assert bot.fake.requests == []


# --- results: inline and in Cloud Storage ---------------------------------------------------


async def test_an_inline_result_crosses_the_wire_once_and_is_decoded_as_it_streams(
    make_bot: BotFactory,
) -> None:
    # A video of some MB, so that the answer is much larger than the socket buffers.
    video = sample_mp4() + os.urandom(24 * 1024 * 1024)
    bot = await make_bot(video=video)
    job = await bot.run(GenerationRequest(prompt="snow on a red mailbox"))

    bot.assert_delivered_once(job)
    assert job.result_url == f"vertex-operation:{job.provider_job_id}"
    poll, download = bot.fake.sent
    # The poll that saw `done` hung up at the start of the video; the download read it all.
    assert poll.size == download.size > 32 * 1024 * 1024
    assert poll.written < poll.size / 2
    assert download.written == download.size
    assert bot.fake.received("GET", STORAGE) == []


async def test_escaped_slashes_in_the_base64_are_undone(make_bot: BotFactory) -> None:
    video = sample_mp4() + bytes(range(256)) * 64  # every byte value: '/' and '+' in base64
    bot = await make_bot(video=video, escape_slashes=True)
    job = await bot.run(GenerationRequest(prompt="a heron takes off"))

    bot.assert_delivered_once(job)


async def test_results_in_cloud_storage_are_fetched_with_the_token_and_can_be_extended(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(gcs=True)
    first = await bot.run(GenerationRequest(prompt="a kite climbs", resolution="1080p"))

    bot.assert_delivered_once(first)
    [body] = bot.submitted()
    assert body["parameters"]["storageUri"] == OUTPUT_URI
    operation_id = str(first.provider_job_id).rpartition("/")[2]
    assert first.result_url == f"gs://{BUCKET}/veo/{operation_id}/sample_0.mp4"
    [download] = bot.fake.received("GET", STORAGE)
    # The object name travels as one segment, slashes encoded; the same token as Vertex's.
    assert download.query == {"alt": "media"}
    assert download.path == f"/storage/v1/b/{BUCKET}/o/veo/{operation_id}/sample_0.mp4"
    [grant] = bot.fake.grants
    assert download.headers["Authorization"] == f"Bearer {grant.issued}"
    assert bot.fake.sent == []  # no inline video anywhere

    extended = await bot.run(
        GenerationRequest(prompt="the kite loops", source_video=first.result_url)
    )

    bot.assert_delivered_once(extended)
    body = bot.submitted()[1]
    assert body["instances"] == [
        {"prompt": "the kite loops", "video": {"gcsUri": first.result_url, "mimeType": "video/mp4"}}
    ]
    # Google adds its own 7 s at 720p: no duration, resolution or sound is asked for.
    assert body["parameters"] == {
        "aspectRatio": "16:9",
        "sampleCount": 1,
        "seed": extended.request.seed,
        "personGeneration": "allow_adult",
        "storageUri": OUTPUT_URI,
    }


async def test_without_cloud_storage_extension_is_not_offered(make_bot: BotFactory) -> None:
    bot = await make_bot()
    assert not any(spec.can_extend for spec in bot.service.catalog.models("vertex"))
    with pytest.raises(InvalidRequest) as refused:
        await bot.service.submit(
            GenerationRequest(prompt="on and on", source_video="vertex-operation:x"), origin()
        )
    assert refused.value.field == "video"

    # And the adapter itself never sends an earlier result it cannot point at.
    request = GenerationRequest(
        prompt="on and on",
        model=FAST,
        duration_s=8,
        aspect_ratio="16:9",
        resolution="720p",
        source_video="vertex-operation:projects/p/locations/l/publishers/google/models/m/operations/1",
    )
    with pytest.raises(ProviderBadRequest) as not_sent:
        await bot.provider.submit("job-1", request, callback_url=None)
    assert "cannot be extended" in not_sent.value.user_message
    assert bot.fake.received("POST", SUBMIT) == []


async def test_a_bucket_the_account_cannot_read_is_said_plainly(make_bot: BotFactory) -> None:
    bot = await make_bot(gcs=True, gcs_denied=True)
    job = await bot.run(GenerationRequest(prompt="a windmill"))

    assert job.state is JobState.FAILED and job.error_code == "delivery_failed"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "Cloud Storage" in message and "admin" in message
    assert_plain(message)


# --- failures -------------------------------------------------------------------------------


async def test_a_failed_operation_is_refunded_in_plain_words(make_bot: BotFactory) -> None:
    bot = await make_bot()
    job = await bot.run(GenerationRequest(prompt="[fail] a glass city"))

    assert job.state is JobState.FAILED and job.error_code == "provider_failed"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "could not make a video" in message
    assert_plain(message)


async def test_a_safety_filtered_video_is_a_plain_refusal(make_bot: BotFactory) -> None:
    bot = await make_bot()
    job = await bot.run(GenerationRequest(prompt="[rai] a famous face"))

    assert job.state is JobState.FAILED and job.error_code == "content_rejected"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "safety filter" in message
    assert RAI_REASON not in message and "58061214" not in message
    assert_plain(message)


async def test_a_retired_model_is_said_to_be_gone(make_bot: BotFactory) -> None:
    bot = await make_bot(retired_models={FAST})
    job = await bot.run(GenerationRequest(prompt="a tram in the rain"))

    assert job.state is JobState.FAILED and job.error_code == "model_retired"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    # The catalog's one sentence for a retired model, with what to use instead.
    assert "veo-3.1-fast-generate-001) was retired; use veo-3.1-generate-001 instead" in message
    assert_plain(message)
    assert len(bot.fake.received("POST", SUBMIT)) == 1  # not retried


async def test_a_project_without_the_role_is_a_configuration_problem(make_bot: BotFactory) -> None:
    bot = await make_bot(permission_denied=True)
    job = await bot.run(GenerationRequest(prompt="a red balloon"))

    assert job.state is JobState.FAILED and job.error_code == "provider_auth"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "Vertex AI User" in message and "admin" in message
    assert_plain(message)
    assert len(bot.fake.received("POST", SUBMIT)) == 1


async def test_resource_exhausted_is_backed_off_and_retried(make_bot: BotFactory) -> None:
    bot = await make_bot()
    job = await bot.run(GenerationRequest(prompt="[429] fireflies in a jar"))

    bot.assert_delivered_once(job)
    first, second = bot.submitted()
    assert first == second
    assert len(bot.fake.operations) == 1
    assert await bot.ledger(job) == "settled"


async def test_an_expired_operation_fails_refunded(make_bot: BotFactory) -> None:
    bot = await make_bot(operation_ttl_s=0.03)
    job = await bot.run(GenerationRequest(prompt="[slow] a long night train"))

    assert job.state is JobState.FAILED and job.error_code == "provider_job_not_found"
    assert await bot.ledger(job) == "refunded"
    assert_plain(bot.failure(job))


# --- tokens ---------------------------------------------------------------------------------


async def test_a_deleted_key_is_refused_before_vertex_is_called(make_bot: BotFactory) -> None:
    bot = await make_bot(key_revoked=True)
    job = await bot.run(GenerationRequest(prompt="a red kite"))

    assert job.state is JobState.FAILED and job.error_code == "provider_auth"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "service-account key" in message and "admin" in message
    assert_plain(message)
    assert len(bot.fake.received("POST", "/token")) == 1
    assert bot.fake.received("POST", SUBMIT) == []


async def test_one_token_serves_many_jobs_fetched_once(make_bot: BotFactory) -> None:
    bot = await make_bot(expires_in_as_string=True)
    request = GenerationRequest(
        prompt="bubbles", model=FAST, duration_s=8, aspect_ratio="16:9", resolution="720p"
    )
    # Six submits at the same moment, before any token exists: one grant between them.
    names = await asyncio.gather(
        *(bot.provider.submit(f"job-{n}", request, callback_url=None) for n in range(6))
    )
    jobs = await asyncio.gather(
        *(bot.run(GenerationRequest(prompt=f"bubble number {n}")) for n in range(4))
    )

    assert len(set(names)) == 6
    for job in jobs:
        bot.assert_delivered_once(job)
    [grant] = bot.fake.grants
    assert len(bot.fake.received("POST", "/token")) == 1
    assert bot.tokens_used() == {f"Bearer {grant.issued}"}


async def test_a_token_is_replaced_before_it_expires(make_bot: BotFactory) -> None:
    clock = SkippingClock()
    bot = await make_bot(clock=clock)
    first = await bot.run(GenerationRequest(prompt="the first dawn"))
    bot.assert_delivered_once(first)
    [old] = bot.fake.grants
    seen = len(bot.fake.requests)

    clock.offset += 3599 - 300 + 1  # five minutes before the hour is out
    second = await bot.run(GenerationRequest(prompt="the second dawn"))

    bot.assert_delivered_once(second)
    [again, new] = bot.fake.grants
    assert again is old and new.issued != old.issued
    later = {r.headers.get("Authorization") for r in bot.fake.requests[seen:] if r.path != "/token"}
    assert later == {f"Bearer {new.issued}"}


async def test_a_revoked_token_is_replaced_and_the_call_repeated_once(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    first = await bot.run(GenerationRequest(prompt="a lantern"))
    bot.assert_delivered_once(first)
    bot.fake.revoke_tokens()

    second = await bot.run(GenerationRequest(prompt="another lantern"))

    bot.assert_delivered_once(second)
    assert len(bot.fake.grants) == 2
    submits = bot.fake.received("POST", SUBMIT)
    # The refused submit, then the same body with the new token: one operation made.
    assert [s.headers["Authorization"] for s in submits[1:]] == [
        f"Bearer {bot.fake.grants[0].issued}",
        f"Bearer {bot.fake.grants[1].issued}",
    ]
    assert submits[1].body == submits[2].body
    assert len(bot.fake.operations) == 2


async def test_neither_the_key_nor_a_token_reaches_the_log(
    make_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = await make_bot()
    bot.assert_delivered_once(await bot.run(GenerationRequest(prompt="a moth 0")))
    bot.fake.revoke_tokens()  # the second job refreshes after a refusal
    bot.assert_delivered_once(await bot.run(GenerationRequest(prompt="a moth 1")))
    # A bot whose key Google refuses. Its provider is asked directly: the two bots share one
    # store, and the first one's scheduler could take a job meant for the second.
    refused = await make_bot(key_revoked=True)
    with pytest.raises(ProviderAuthError):
        await refused.provider.submit(
            "refused-job",
            GenerationRequest(
                prompt="a moth", model=FAST, duration_s=8, aspect_ratio="16:9", resolution="720p"
            ),
            callback_url=None,
        )

    assert len(bot.fake.grants) == 2 and "new access token" in caplog.text
    for grant in bot.fake.grants:
        assert str(grant.issued) not in caplog.text
    key = key_file_info("x")["private_key"]
    assert "PRIVATE KEY" not in caplog.text and key[60:120] not in caplog.text
    assert "ya29." not in caplog.text


async def test_health_reports_the_key_without_showing_it(make_bot: BotFactory) -> None:
    bot = await make_bot()
    health = await bot.provider.health()
    assert (health.reachable, health.key_accepted, health.live_models) == (True, True, None)
    assert CLIENT_EMAIL in health.detail and PROJECT in health.detail
    assert "ya29" not in health.detail

    refused = await (await make_bot(key_revoked=True)).provider.health()
    assert (refused.reachable, refused.key_accepted) == (True, False)
    assert "Invalid JWT Signature" in refused.detail and "PRIVATE KEY" not in refused.detail

    down = await make_bot()
    await down.fake.close()
    unreachable = await down.provider.health()
    assert (unreachable.reachable, unreachable.key_accepted) == (False, None)


# --- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("us-central1", "https://us-central1-aiplatform.googleapis.com/"),
        ("europe-west4", "https://europe-west4-aiplatform.googleapis.com/"),
        ("global", "https://aiplatform.googleapis.com/"),
        ("us", "https://aiplatform.us.rep.googleapis.com/"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com/"),
    ],
)
def test_each_location_has_its_own_host(location: str, host: str) -> None:
    assert base_url_for(location) == host


async def test_the_location_goes_in_the_path(make_bot: BotFactory) -> None:
    bot = await make_bot(location="global")
    job = await bot.run(GenerationRequest(prompt="a compass"))

    bot.assert_delivered_once(job)
    [submit] = bot.fake.received("POST", SUBMIT)
    assert submit.path.startswith(f"/v1/projects/{PROJECT}/locations/global/publishers/google/")


def _pem() -> str:
    return key_file_info("https://oauth2.googleapis.com/token")["private_key"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "there is no file at"),
        ("not json at all", "is not a JSON key file"),
        (
            json.dumps({"type": "authorized_user", "client_id": "x", "refresh_token": "1//s"}),
            'is a "authorized_user" key',
        ),
        (
            json.dumps(
                {**key_file_info("https://oauth2.googleapis.com/token"), "client_email": ""}
            ),
            "has no client_email",
        ),
        (
            json.dumps(key_file_info("http://tokens.example/token")),
            "token_uri that is not https",
        ),
        (
            json.dumps(
                {
                    **key_file_info("https://oauth2.googleapis.com/token"),
                    "private_key": _pem().replace("A", "B", 40),
                }
            ),
            "is not a PEM-encoded RSA key",
        ),
    ],
    ids=["missing", "not json", "user credentials", "no email", "plain http", "damaged key"],
)
def test_a_key_file_that_cannot_work_stops_try_with_the_variable_named(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    words: str,
) -> None:
    key = tmp_path / "key.json"
    if content is not None:
        key.write_text(content, encoding="utf-8")
    monkeypatch.setenv("VERTEX_PROJECT", PROJECT)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    monkeypatch.setenv("VEO_DATABASE_URL", f"sqlite:///{tmp_path / 'veo.db'}")

    assert main(["try", "a fox", "--provider", "vertex"]) == 4
    err = capsys.readouterr().err
    assert "GOOGLE_APPLICATION_CREDENTIALS" in err and words in err
    assert len(err.strip().splitlines()) == 1
    assert "PRIVATE KEY" not in err and "1//s" not in err and _pem()[40:80] not in err


def test_vertex_without_a_key_file_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VERTEX_PROJECT", PROJECT)
    monkeypatch.setenv("VEO_DATABASE_URL", f"sqlite:///{tmp_path / 'veo.db'}")
    assert main(["try", "a fox", "--provider", "vertex"]) == 4
    err = capsys.readouterr().err
    assert "GOOGLE_APPLICATION_CREDENTIALS" in err and "key file" in err


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VERTEX_LOCATION", "us-central1.evil.example/x"),
        ("VERTEX_PROJECT", "my project/../x"),
        ("VERTEX_OUTPUT_GCS_URI", "s3://bucket/veo"),
    ],
)
def test_vertex_names_that_go_into_urls_are_checked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["jobs"]) == 4
    assert variable in capsys.readouterr().err


# --- the fake refuses what Google refuses -------------------------------------------------


def _assertion(key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
    """A JWT grant signed the way google-auth signs it, with these claims changed."""
    now = int(time.time())
    payload = {
        "iss": CLIENT_EMAIL,
        "aud": "https://oauth2.googleapis.com/token",
        "scope": SCOPE,
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    signer = crypt.RSASigner.from_service_account_info(
        key_file_info("http://127.0.0.1/token", key=key)
    )
    return str(jwt.encode(signer, payload).decode("ascii"))


@pytest.mark.parametrize(
    ("form", "status", "words"),
    [
        ({"assertion": "OK"}, 200, "access_token"),
        ({"assertion": "OK", "grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"assertion": "FOREIGN"}, 400, "Invalid JWT Signature"),
        ({"assertion": _assertion(aud="http://127.0.0.1/token")}, 400, "audience"),
        ({"assertion": _assertion(scope="openid")}, 400, "invalid_scope"),
        ({"assertion": _assertion(iss="someone@else.iam.gserviceaccount.com")}, 400, "account"),
        ({"assertion": _assertion(iat=int(time.time()) - 7200)}, 400, "short-lived"),
    ],
    ids=["good", "grant type", "other key", "audience", "scope", "issuer", "stale"],
)
async def test_the_token_endpoint_checks_the_grant(
    form: dict[str, str], status: int, words: str
) -> None:
    form = dict(form)
    if form["assertion"] == "OK":
        form["assertion"] = _assertion()
    elif form["assertion"] == "FOREIGN":
        form["assertion"] = _assertion(
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
    form.setdefault("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
    fake = vertex.create()
    await fake.start()
    try:
        async with httpx.AsyncClient(base_url=fake.base_url) as client:
            answer = await client.post("/token", data=form)
    finally:
        await fake.close()
    assert answer.status_code == status, answer.text
    assert words in answer.text


PNG = {"bytesBase64Encoded": b64(png_bytes()), "mimeType": "image/png"}
GIF_CALLED_PNG = {"bytesBase64Encoded": b64(b"GIF89a\x01\x00\x01\x00"), "mimeType": "image/png"}


@pytest.mark.parametrize(
    ("model", "instance", "parameters", "auth", "status", "words"),
    [
        (FAST, {}, {}, "token", 200, "operations/"),
        (FAST, {}, {"webhookConfig": {}}, "token", 400, "Unknown name"),
        (FAST, {}, {"resolution": "1080p", "durationSeconds": 4}, "token", 400, "out of range"),
        (FAST, {}, {"resolution": "4k"}, "token", 400, "resolution"),
        (FAST, {"lastFrame": PNG}, {}, "token", 400, "lastFrame needs image"),
        (FAST, {"image": GIF_CALLED_PNG}, {}, "token", 400, "is not a image/png image"),
        (FAST, {"image": {**PNG, "mimeType": "image/webp"}}, {}, "token", 400, "mimeType"),
        (
            VEO31,
            {"image": PNG, "referenceImages": [{"image": PNG, "referenceType": "asset"}]},
            {},
            "token",
            400,
            "cannot be combined",
        ),
        (
            VEO31,
            {"referenceImages": [{"image": PNG, "referenceType": "STYLE"}]},
            {},
            "token",
            400,
            "referenceType",
        ),
        (
            LITE,
            {"referenceImages": [{"image": PNG, "referenceType": "asset"}]},
            {},
            "token",
            400,
            "isn't supported",
        ),
        (
            FAST,
            {"video": {"gcsUri": "gs://x/y.mp4", "mimeType": "video/mp4"}},
            {},
            "token",
            400,
            "not found",
        ),
        (FAST, {}, {"seed": -1}, "token", 400, "seed"),
        ("veo-3.0-generate-001", {}, {}, "token", 404, "not found"),
        (FAST, {}, {}, "none", 401, "UNAUTHENTICATED"),
        (FAST, {}, {}, "forged", 401, "invalid authentication credentials"),
    ],
)
async def test_vertex_fake_refuses_what_vertex_refuses(
    model: str,
    instance: dict[str, Any],
    parameters: dict[str, Any],
    auth: str,
    status: int,
    words: str,
) -> None:
    extra = parameters.pop("webhookConfig", None)
    body: dict[str, Any] = {
        "instances": [{"prompt": "a fox", **instance}],
        "parameters": {"aspectRatio": "16:9", "durationSeconds": 8, **parameters},
    }
    if extra is not None:
        body["parameters"]["webhookConfig"] = extra
    fake = vertex.create()
    await fake.start()
    try:
        async with httpx.AsyncClient(base_url=fake.base_url) as client:
            grant = await client.post(
                "/token",
                data={"grant_type": vertex.JWT_BEARER, "assertion": _assertion()},
            )
            token = {"token": grant.json()["access_token"], "forged": "ya29.forged"}.get(auth)
            answer = await client.post(
                f"{MODELS_PATH}/{model}:predictLongRunning",
                json=body,
                headers={"Authorization": f"Bearer {token}"} if token else {},
            )
            wrong_project = await client.post(
                f"/v1/projects/other-project/locations/us-central1/publishers/google/models/{FAST}"
                ":predictLongRunning",
                json=body,
                headers={"Authorization": f"Bearer {grant.json()['access_token']}"},
            )
    finally:
        await fake.close()
    assert answer.status_code == status, answer.text
    assert words in answer.text
    if status != 200:
        assert answer.json()["error"]["code"] == status
    assert wrong_project.status_code == 403 and "PERMISSION_DENIED" in wrong_project.text


# --- veo-bot try, end to end ----------------------------------------------------------------


@pytest.mark.parametrize("frames", [False, True], ids=["text", "first and last frame"])
async def test_the_cli_makes_a_video_through_the_fake(tmp_path: Path, frames: bool) -> None:
    fake = vertex.create(job_duration_s=0.1)
    await fake.start()
    key = fake.key_file(tmp_path)
    images: list[str] = []
    if frames:
        (tmp_path / "first.png").write_bytes(png_bytes(color=(200, 120, 40)))
        (tmp_path / "last.jpg").write_bytes(image_bytes("JPEG", (20, 40, 160)))
        images = ["--image", "first.png", "--end-image", "last.jpg"]
    try:
        result = await asyncio.to_thread(
            run_cli,
            tmp_path,
            "try",
            "a paper lantern rises",
            "--provider",
            "vertex",
            "--model",
            FAST,
            *images,
            VERTEX_PROJECT=PROJECT,
            VERTEX_BASE_URL=fake.base_url,
            GOOGLE_APPLICATION_CREDENTIALS=str(key),
        )
    finally:
        await fake.close()
    assert result.returncode == 0, result.stderr
    path = tmp_path / result.stdout.strip().splitlines()[-1]
    assert path.suffix == ".mp4"
    assert await asyncio.to_thread(path.read_bytes) == fake.video
    [submit] = fake.received("POST", SUBMIT)
    instance = submit.json()["instances"][0]
    assert ("image" in instance, "lastFrame" in instance) == (frames, frames)
    [grant] = fake.grants
    output = result.stdout + result.stderr
    assert str(grant.issued) not in output and "PRIVATE KEY" not in output


async def test_an_inline_answer_cut_off_midway_is_fetched_again(make_bot: BotFactory) -> None:
    bot = await make_bot(cut_inline_answers=2)  # the poll that sees done, then the download
    job = await bot.run(GenerationRequest(prompt="a kettle boils"))

    bot.assert_delivered_once(job)
    cut = [s for s in bot.fake.sent if s.written < s.size]
    assert len(bot.fake.sent) == 4 and len(cut) == 2
    assert bot.fake.sent[-1].written == bot.fake.sent[-1].size


# --- reading an operation as it streams -----------------------------------------------------


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _read(data: bytes, size: int) -> tuple[Head, bytes | None]:
    reader = Reader(_chunks(data, size))
    head = await read_head(reader)
    if not head.inline:
        return head, None
    return head, b"".join([piece async for piece in inline_video(reader)])


VIDEO = bytes(range(256)) * 3  # base64 with '+' and '/'
ESCAPED = base64.b64encode(VIDEO).decode().replace("/", "\\/").replace("+", "\\u002B")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64, 100_000])
@pytest.mark.parametrize(
    ("answer", "expected", "video"),
    [
        ('{"name": "op"}', Head(), None),
        ('{ "name" : "op", "done" : false, "metadata": {"@type": "x"} }', Head(), None),
        (
            '{"name":"op","done":true,"error":{"code":3,"message":"bad \\"input\\" \\u00e9"}}',
            Head(done=True, error={"code": 3, "message": 'bad "input" é'}),
            None,
        ),
        (
            '{"done":true,"response":{"raiMediaFilteredCount":1,'
            '"raiMediaFilteredReasons":["no [faces]"],"videos":[]}}',
            Head(done=True, filtered=1, filtered_reasons=["no [faces]"]),
            None,
        ),
        (
            '{"done":true,"response":{"videos":[{"gcsUri":"gs://b/o\\/1.mp4","mimeType":"video/mp4"}]}}',
            Head(done=True, gcs_uri="gs://b/o/1.mp4"),
            None,
        ),
        (
            '{"name":"op","done":true,"response":{"@type":"t","raiMediaFilteredCount":0,'
            f'"videos":[{{"mimeType":"video/mp4","bytesBase64Encoded":"{ESCAPED}"}}]}}}}',
            Head(done=True, inline=True),
            VIDEO,
        ),
        (
            # The same string elsewhere (inside metadata) is skipped, not taken for the video.
            f'{{"metadata":{{"bytesBase64Encoded":"{"A" * 70_000}"}},"done":true,'
            '"response":{"videos":[{"bytesBase64Encoded":"AAEC"}]}}',
            Head(done=True, inline=True),
            b"\x00\x01\x02",
        ),
    ],
    ids=["pending", "not done", "error", "filtered", "in storage", "inline", "lookalike"],
)
async def test_an_operation_is_read_the_same_however_it_is_chunked(
    answer: str, expected: Head, video: bytes | None, size: int
) -> None:
    assert await _read(answer.encode(), size) == (expected, video)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ('{"done":true,"response":{"videos":[{"bytesBase64Encoded":"AAE', "never ends"),
        ('{"done":true,"response":{"videos":[{"bytesBase64Encoded":"AA*B"}]}}', "base64"),
        ('{"done":true,"response":{"videos":[{"bytesBase64Encoded":"AAE"}]}}', "cut short"),
        ('{"done":true,"response":{"videos":[{"bytesBase64Encoded":"\\u00e9AAA"}]}}', "ASCII"),
        ('{"done": tru', "literal"),
        ("[" * 40, "deep"),
        ('{"name": "op"', "ends early"),
    ],
)
async def test_a_broken_answer_is_a_retryable_provider_failure(answer: str, words: str) -> None:
    with pytest.raises(ProviderUnavailable) as broken:
        await _read(answer.encode(), 4)
    assert words in broken.value.detail


@pytest.mark.parametrize("gcs", [False, True], ids=["inline", "cloud storage"])
async def test_the_bot_offers_extend_on_vertex_only_with_cloud_storage(
    tmp_path: Path, gcs: bool
) -> None:
    fake = vertex.create()
    await fake.start()
    settings = Settings(
        _env_file=None,
        veo_database_url=f"sqlite:///{tmp_path / 'veo.db'}",
        veo_data_dir=tmp_path / "data",
        vertex_project=PROJECT,
        vertex_base_url=fake.base_url,
        google_application_credentials=fake.key_file(tmp_path),
        vertex_output_gcs_uri="gs://veo-bot-results/veo" if gcs else None,
        gcs_base_url=fake.base_url,
    )
    runtime = await app.open_runtime(settings, {"chat": KeepingSurface()})
    try:
        specs = runtime.catalog.models("vertex")
        assert [s.id for s in specs] == [FAST, VEO31, LITE]
        assert {s.can_extend for s in specs} == {gcs}
        provider = runtime.providers["vertex"]
        assert isinstance(provider, VertexProvider)
        assert provider.output_gcs_uri == ("gs://veo-bot-results/veo/" if gcs else None)
    finally:
        await runtime.aclose()
        await fake.close()
