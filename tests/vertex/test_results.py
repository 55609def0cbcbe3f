"""Vertex's results: the inline video streamed and decoded from the operation (fetched again
when cut off), and results in Cloud Storage, which are what makes Extend possible."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.providers.vertex import VertexProvider
from bot import app
from bot.errors import InvalidRequest, ProviderBadRequest
from bot.models import GenerationRequest, JobState
from bot.settings import Settings
from tests.fakes import vertex
from tests.fakes._base import sample_mp4
from tests.fakes.vertex import BUCKET, OUTPUT_URI, PROJECT
from tests.support import KeepingSurface, origin
from tests.vertex.support import FAST, LITE, STORAGE, SUBMIT, VEO31, BotFactory, assert_plain


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


async def test_an_inline_answer_cut_off_midway_is_fetched_again(make_bot: BotFactory) -> None:
    bot = await make_bot(cut_inline_answers=2)  # the poll that sees done, then the download
    job = await bot.run(GenerationRequest(prompt="a kettle boils"))

    bot.assert_delivered_once(job)
    cut = [s for s in bot.fake.sent if s.written < s.size]
    assert len(bot.fake.sent) == 4 and len(cut) == 2
    assert bot.fake.sent[-1].written == bot.fake.sent[-1].size


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
