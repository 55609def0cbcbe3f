"""The job state machine: lifecycle, races, failures, retries, time-outs, idempotent delivery."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.clock import ManualClock
from bot.errors import (
    ProviderJobNotFound,
    ProviderOutOfCredits,
    ProviderRateLimited,
    ProviderUnavailable,
)
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.media import load_image
from bot.models import GenerationRequest, Job, JobState, ProviderJobState, ProviderStatus
from bot.quota import period_at
from bot.refs import Refs
from bot.scheduler import Scheduler
from bot.web import build_web_app
from storage.sqlite import SqliteStore
from tests.support import (
    RecordingSurface,
    ScriptedProvider,
    make_service,
    noisy_mp4,
    origin,
    png_bytes,
)

REQUEST = GenerationRequest(prompt="a fox runs through snow", duration_s=8)


@contextlib.asynccontextmanager
async def running(service: JobService) -> AsyncIterator[Scheduler]:
    scheduler = Scheduler(service, idle_s=0.05)
    await scheduler.start()
    try:
        yield scheduler
    finally:
        await scheduler.stop()


async def finish(service: JobService, job: Job) -> Job:
    async with running(service):
        return await asyncio.wait_for(service.wait_until_done(job.id), 10)


def scripted_service(
    store: SqliteStore, tmp_path: Path, provider: ScriptedProvider, surface: RecordingSurface
) -> JobService:
    return make_service(
        store, tmp_path, providers={"scripted": provider}, surfaces={"chat": surface}
    )


async def submit_and_finish(service: JobService) -> tuple[Job, Job]:
    """Submit REQUEST and run the scheduler until the job ends: (as accepted, as ended)."""
    job = await service.submit(REQUEST, origin())
    return job, await finish(service, job)


async def ledger_status(store: SqliteStore, job_id: str) -> str:
    rows = await store.ledger([job_id])
    assert len(rows) == 1
    return str(rows[0]["status"])


async def test_a_job_goes_from_request_to_delivered_and_is_charged(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider()
    surface = RecordingSurface()
    service = scripted_service(store, tmp_path, provider, surface)

    job = await service.submit(REQUEST, origin())
    done = await finish(service, job)

    assert done.state is JobState.DELIVERED
    assert done.delivery_refs == Refs(message=f"video-{job.id}")
    assert [p.kind for p in surface.posts if p.kind != "progress"] == ["status", "video"]
    assert surface.of(job.id, "video")[0].size == len(provider.video)
    assert "50" in [p.text for p in surface.of(job.id, "progress")]
    assert provider.jobs[done.provider_job_id or ""].request.prompt == REQUEST.prompt
    assert await ledger_status(store, job.id) == "settled"
    usage = await service.quota_usage(origin())
    assert (usage.used_today_s, usage.in_flight) == (8, 0)
    # the temporary download is gone once posted
    assert not list((tmp_path / "downloads").glob("*"))


async def test_webhook_and_poll_seeing_completion_together_deliver_once(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([ProviderStatus(ProviderJobState.RUNNING, progress=10)])
    surface = RecordingSurface()
    service = scripted_service(store, tmp_path, provider, surface)
    job = await service.submit(REQUEST, origin())
    await service.advance(job)  # submit
    running_job = await store.get_job(job.id)
    assert running_job is not None and running_job.state is JobState.SUBMITTED

    done = ProviderStatus(ProviderJobState.SUCCEEDED, video_url="mem://video")
    await asyncio.gather(*(service.apply_status(running_job, done) for _ in range(5)))

    final = await store.get_job(job.id)
    assert final is not None and final.state is JobState.DELIVERED
    assert len(surface.of(job.id, "video")) == 1
    assert provider.downloads == 1


async def test_provider_failure_refunds_and_says_so(store: SqliteStore, tmp_path: Path) -> None:
    provider = ScriptedProvider(
        [ProviderStatus(ProviderJobState.FAILED, error_message="The model could not draw that.")]
    )
    surface = RecordingSurface()
    service = scripted_service(store, tmp_path, provider, surface)
    job, done = await submit_and_finish(service)

    assert done.state is JobState.FAILED
    assert done.error_message == "The model could not draw that."
    assert await ledger_status(store, job.id) == "refunded"
    [failure] = surface.of(job.id, "failure")
    assert "could not draw that" in failure.text and "not charged" in failure.text
    assert (await service.quota_usage(origin())).used_today_s == 0


async def test_out_of_credits_on_submit_fails_at_once_with_a_plain_message(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider(
        submit_errors=[ProviderOutOfCredits(detail="402 Insufficient credits")]
    )
    surface = RecordingSurface()
    service = scripted_service(store, tmp_path, provider, surface)
    job, done = await submit_and_finish(service)

    assert done.state is JobState.FAILED
    assert done.error_code == "provider_out_of_credits"
    assert len(provider.submits) == 1
    assert "out of credits" in surface.of(job.id, "failure")[0].text
    assert "402" not in surface.of(job.id, "failure")[0].text  # provider detail stays in the log
    assert await ledger_status(store, job.id) == "refunded"


async def test_rate_limited_submit_and_flaky_polls_are_retried_until_done(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider(
        [
            ProviderUnavailable(detail="502"),
            ProviderUnavailable(detail="timeout"),
            ProviderStatus(ProviderJobState.RUNNING, progress=40),
            ProviderStatus(ProviderJobState.SUCCEEDED, video_url="mem://v"),
        ],
        submit_errors=[ProviderRateLimited(retry_after=0.01)],
    )
    surface = RecordingSurface()
    service = scripted_service(store, tmp_path, provider, surface)
    job, done = await submit_and_finish(service)

    assert done.state is JobState.DELIVERED
    assert len(provider.submits) == 2
    assert len(surface.of(job.id, "video")) == 1
    assert await ledger_status(store, job.id) == "settled"


async def test_a_job_lost_by_the_provider_fails_and_refunds(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([ProviderJobNotFound(detail="404")])
    surface = RecordingSurface()
    service = scripted_service(store, tmp_path, provider, surface)
    job, done = await submit_and_finish(service)

    assert (done.state, done.error_code) == (JobState.FAILED, "provider_job_not_found")
    assert await ledger_status(store, job.id) == "refunded"


async def test_a_job_past_its_deadline_times_out_and_refunds(
    store: SqliteStore, tmp_path: Path
) -> None:
    clock = ManualClock(1_790_000_000.0)
    provider = ScriptedProvider([ProviderStatus(ProviderJobState.RUNNING, progress=5)])
    surface = RecordingSurface()
    service = make_service(
        store,
        tmp_path,
        providers={"scripted": provider},
        surfaces={"chat": surface},
        clock=clock,
        job_timeout_s=60,
    )
    job = await service.submit(REQUEST, origin())
    await service.advance(job)
    submitted = await store.get_job(job.id)
    assert submitted is not None
    await service.advance(submitted)
    polled = await store.get_job(job.id)
    assert polled is not None and polled.state is JobState.RUNNING

    clock.advance(61)
    await service.advance(polled)

    final = await store.get_job(job.id)
    assert final is not None and final.state is JobState.TIMED_OUT
    assert "longer than 1 minutes" in (final.error_message or "")
    assert provider.cancelled == [polled.provider_job_id]  # it stops costing money there too
    assert await ledger_status(store, job.id) == "refunded"
    assert surface.of(job.id, "failure")


async def test_a_failed_post_is_retried_and_the_video_posted_once(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider()
    surface = RecordingSurface(fail_deliveries=2)
    service = scripted_service(store, tmp_path, provider, surface)
    job, done = await submit_and_finish(service)

    assert done.state is JobState.DELIVERED
    assert len(surface.of(job.id, "video")) == 1
    # Fetched once: the later tries post the bot's own copy (provider URLs expire).
    assert provider.downloads == 1


async def test_a_video_too_large_for_the_destination_is_re_encoded_to_fit(
    store: SqliteStore, tmp_path: Path
) -> None:
    source = tmp_path / "big.mp4"
    size = noisy_mp4(source, audio=True)
    provider = ScriptedProvider(video=source.read_bytes())
    surface = RecordingSurface(limit=size // 4)
    service = scripted_service(store, tmp_path, provider, surface)
    job, done = await submit_and_finish(service)

    assert done.state is JobState.DELIVERED
    [video] = surface.of(job.id, "video")
    assert video.size <= size // 4
    assert done.result_bytes == video.size
    assert service.metrics.value("veo_reencodes_total", platform="chat") == 1


async def test_a_re_encode_leaves_the_bots_copy_as_downloaded_for_the_next_try(
    store: SqliteStore, tmp_path: Path
) -> None:
    source = tmp_path / "big.mp4"
    size = noisy_mp4(source, audio=False)
    provider = ScriptedProvider(video=source.read_bytes())
    surface = RecordingSurface(limit=size // 4, fail_deliveries=1)
    service = scripted_service(store, tmp_path, provider, surface)
    job, done = await submit_and_finish(service)

    assert done.state is JobState.DELIVERED
    [video] = surface.of(job.id, "video")
    assert video.size <= size // 4
    # The second try re-encoded the copy the first one downloaded, unchanged by the first
    # re-encode (else its size would not match the one recorded, and it would be fetched).
    assert provider.downloads == 1
    assert (done.downloaded_bytes, done.result_bytes) == (size, video.size)
    assert service.metrics.value("veo_reencodes_total", platform="chat") == 2


async def test_a_video_that_cannot_fit_anywhere_is_kept_and_charged_when_no_link_could_be_opened(
    store: SqliteStore, tmp_path: Path
) -> None:
    # Without VEO_PUBLIC_URL nobody could open a link to the bot's own web server; a DM takes
    # no larger files than the channel. The provider made (and billed) it all the same.
    provider = ScriptedProvider(video=b"x" * 5000)  # not even a video: nothing to re-encode
    surface = RecordingSurface(limit=1000)
    service = scripted_service(store, tmp_path, provider, surface)
    job, done = await submit_and_finish(service)

    assert (done.state, done.error_code) == (JobState.FAILED, "undelivered")
    assert await ledger_status(store, job.id) == "settled"
    assert not surface.of(job.id, "video") and not surface.of(job.id, "private")
    [failure] = surface.of(job.id, "failure")
    assert "too large to post here" in failure.text and "count" in failure.text
    kept = tmp_path / "downloads" / "results" / f"{job.id}.mp4"
    assert done.delivery_refs == Refs(path=str(kept))
    assert kept.read_bytes() == provider.video
    # The job has ended: the bot's own copy of the video is not held besides.
    assert not (tmp_path / "downloads" / f"{job.id}.mp4").exists()


@dataclass
class CrashAfterPost(RecordingSurface):
    """The platform takes the video, then the bot process dies before it records that."""

    async def deliver(self, job: Job, video: Path, *, notice: str | None) -> Refs:
        await super().deliver(job, video, notice=notice)
        raise asyncio.CancelledError


async def step_until_cancelled(service: JobService, store: SqliteStore, job_id: str) -> None:
    for _ in range(10):
        current = await store.get_job(job_id)
        assert current is not None
        await service.advance(current)


async def test_a_crash_between_post_and_record_does_not_post_twice(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider()
    crashing = CrashAfterPost()
    first = make_service(
        store, tmp_path, providers={"scripted": provider}, surfaces={"chat": crashing}
    )
    job = await first.submit(REQUEST, origin())
    with pytest.raises(asyncio.CancelledError):
        await step_until_cancelled(first, store, job.id)
    stuck = await store.get_job(job.id)
    assert stuck is not None and stuck.state is JobState.DELIVERING

    # A new process, the same channel history.
    channel = RecordingSurface(posts=list(crashing.posts))
    second = make_service(
        store, tmp_path, providers={"scripted": provider}, surfaces={"chat": channel}
    )
    done = await finish(second, stuck)

    assert done.state is JobState.DELIVERED
    assert len(channel.of(job.id, "video")) == 1
    assert await ledger_status(store, job.id) == "settled"


@dataclass
class CrashAfterCard(RecordingSurface):
    """The platform shows the status card, then the bot dies before it records that."""

    async def post_status(self, job: Job) -> Refs:
        await super().post_status(job)
        raise asyncio.CancelledError


async def test_a_crash_between_card_and_record_does_not_post_a_second_card(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider()
    crashing = CrashAfterCard()
    first = make_service(
        store, tmp_path, providers={"scripted": provider}, surfaces={"chat": crashing}
    )
    job = await first.submit(REQUEST, origin())
    with pytest.raises(asyncio.CancelledError):
        await first.advance(job)

    channel = RecordingSurface(posts=list(crashing.posts))
    second = make_service(
        store, tmp_path, providers={"scripted": provider}, surfaces={"chat": channel}
    )
    done = await finish(second, job)

    assert done.state is JobState.DELIVERED
    assert len(channel.of(job.id, "status")) == 1
    assert done.origin.refs == Refs(message=f"status-{job.id}")
    assert len(provider.submits) == 1

    # A job this process accepted itself posts its card without looking first.
    fresh = await second.submit(REQUEST, origin())
    await finish(second, fresh)
    assert len(channel.of(fresh.id, "status")) == 1


async def interrupt_submit_then_restart(
    store: SqliteStore, tmp_path: Path, provider: ScriptedProvider, surface: RecordingSurface
) -> tuple[Job, Job]:
    """The process dies while the provider's submit call is under way; a new one takes over."""
    first = scripted_service(store, tmp_path, provider, surface)
    job = await first.submit(REQUEST, origin())
    step = asyncio.create_task(first.advance(job))
    await provider.submitted.wait()
    step.cancel()
    with pytest.raises(asyncio.CancelledError):
        await step
    provider.submit_gate = None
    return job, await finish(scripted_service(store, tmp_path, provider, surface), job)


async def test_an_interrupted_submit_is_not_repeated_on_a_provider_that_could_bill_twice(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider(idempotent_submit=False)
    provider.submit_gate = asyncio.Event()  # the submit call never returns: the process dies
    surface = RecordingSurface()
    job, done = await interrupt_submit_then_restart(store, tmp_path, provider, surface)

    assert done.state is JobState.FAILED and done.error_code == "submit_interrupted"
    assert len(provider.submits) == 1
    assert await ledger_status(store, job.id) == "refunded"


async def test_an_interrupted_submit_is_repeated_on_an_idempotent_provider(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider(idempotent_submit=True)
    provider.submit_gate = asyncio.Event()
    surface = RecordingSurface()
    job, done = await interrupt_submit_then_restart(store, tmp_path, provider, surface)

    assert done.state is JobState.DELIVERED
    assert len(provider.submits) == 2
    assert len(surface.of(job.id, "video")) == 1


async def test_a_job_accepted_but_never_started_is_started_by_the_next_process(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider()
    surface = RecordingSurface()
    first = make_service(
        store, tmp_path, providers={"scripted": provider}, surfaces={"chat": surface}
    )
    job = await first.submit(REQUEST, origin())  # the process stops before the scheduler runs

    second = make_service(
        store, tmp_path, providers={"scripted": provider}, surfaces={"chat": surface}
    )
    done = await finish(second, job)

    assert done.state is JobState.DELIVERED
    assert len(provider.submits) == 1


async def test_quota_usage_reflects_in_flight_jobs(store: SqliteStore, tmp_path: Path) -> None:
    provider = ScriptedProvider()
    service = make_service(
        store, tmp_path, providers={"scripted": provider}, surfaces={"chat": RecordingSurface()}
    )
    await service.submit(REQUEST, origin())
    await service.submit(REQUEST.model_copy(update={"duration_s": 4}), origin())
    usage = await store.quota_usage(
        origin().user_key, origin().workspace_key, period_at(service.clock.now())
    )
    assert (usage.used_today_s, usage.in_flight) == (12, 2)


async def test_an_expired_result_url_is_refreshed_from_the_provider(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider()
    provider.expired_downloads = 1
    surface = RecordingSurface()
    service = scripted_service(store, tmp_path, provider, surface)
    _, done = await submit_and_finish(service)

    assert done.state is JobState.DELIVERED
    assert provider.downloads == 2
    # the second try used a fresh reading: one more poll than the run itself needed
    assert provider.jobs[done.provider_job_id or ""].polls == 3


async def test_a_result_url_that_stays_expired_fails_and_refunds(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider()
    provider.expired_downloads = 5
    surface = RecordingSurface()
    service = scripted_service(store, tmp_path, provider, surface)
    job, done = await submit_and_finish(service)

    assert done.state is JobState.FAILED
    assert provider.downloads == 2
    assert "lost or expired" in surface.of(job.id, "failure")[0].text
    assert await ledger_status(store, job.id) == "refunded"


async def test_a_reroll_is_the_same_request_with_a_new_seed_charged_as_a_new_job(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider()
    surface = RecordingSurface()
    service = scripted_service(store, tmp_path, provider, surface)
    image = load_image(png_bytes())
    first = await service.submit(
        REQUEST.model_copy(update={"first_frame": image, "seed": 5}), origin()
    )
    again = await service.reroll(first.id, origin(user="u2"))

    assert again.id != first.id
    assert again.request.prompt == first.request.prompt
    assert again.request.seed != 5
    assert (await store.load_media(again.id)) == (await store.load_media(first.id))
    report = await service.quota_report(origin(user="u2"))
    assert (report.used_today_s, report.in_flight, report.remaining_today_s) == (8, 1, 992)


async def test_a_platform_retry_after_is_honoured_for_deliveries(
    store: SqliteStore, tmp_path: Path
) -> None:
    clock = ManualClock(1_790_000_000.0)
    provider = ScriptedProvider([ProviderStatus(ProviderJobState.SUCCEEDED, video_url="m")])
    surface = RecordingSurface(fail_deliveries=1, fail_retry_after=30)
    service = make_service(
        store, tmp_path, providers={"scripted": provider}, surfaces={"chat": surface}, clock=clock
    )
    job = await service.submit(REQUEST, origin())
    await service.advance(job)
    submitted = await store.get_job(job.id)
    assert submitted is not None
    await service.advance(submitted)
    waiting = await store.get_job(job.id)
    assert waiting is not None and waiting.state is JobState.DELIVERING
    assert waiting.due_at == pytest.approx(clock.now() + 30)
    # A failed delivery counts as one, not as a failed reading of the provider.
    assert (waiting.delivery_failures, waiting.poll_failures) == (1, 0)


async def test_a_request_delivered_twice_makes_one_job_even_across_a_restart(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider()
    first = scripted_service(store, tmp_path, provider, RecordingSurface())
    jobs = await asyncio.gather(
        *(first.submit(REQUEST, origin(), idempotency_key="slack:T1:Ev1") for _ in range(3))
    )
    assert len({job.id for job in jobs}) == 1

    second = scripted_service(store, tmp_path, provider, RecordingSurface())
    again = await second.submit(REQUEST, origin(), idempotency_key="slack:T1:Ev1")
    other = await second.submit(REQUEST, origin(), idempotency_key="slack:T1:Ev2")

    assert again.id == jobs[0].id and other.id != again.id
    assert len(await store.ledger()) == 2


async def test_a_video_that_cannot_fit_is_posted_as_a_signed_expiring_link(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider(video=b"x" * 5000)  # not a video: no encoding makes it fit
    surface = RecordingSurface(limit=1000)
    clock = ManualClock(1_800_000_000.0)
    service = make_service(
        store,
        tmp_path,
        providers={"scripted": provider},
        surfaces={"chat": surface},
        clock=clock,
        webhook_secret="s3cret",
        public_url="https://veo.example.org",
    )
    job = await service.submit(REQUEST, origin())
    for _ in range(10):  # step the job by hand: the clock only moves when told
        current = await store.get_job(job.id)
        assert current is not None
        if current.state.is_terminal:
            break
        await service.advance(current)
        clock.advance(1)
    done = current
    assert done is not None

    assert done.state is JobState.DELIVERED
    assert await ledger_status(store, job.id) == "settled"
    [link] = surface.of(job.id, "link")
    assert not surface.of(job.id, "video")
    assert link.text.startswith(f"https://veo.example.org/results/{job.id}.mp4?expires=")
    expires = int(link.text.split("expires=")[1].split("&")[0])
    assert 1_800_000_000 + 7 * 86400 < expires <= int(clock.now()) + 7 * 86400
    assert done.delivery_refs is not None
    assert done.delivery_refs.link_expires_at == expires
    assert 'veo_result_links_total{platform="chat"} 1' in service.metrics.render()

    app = build_web_app(store, MediaLinks(None, "s3cret", clock), service=service)
    path = link.text.removeprefix("https://veo.example.org")
    async with TestClient(TestServer(app)) as client:
        served = await client.get(path)
        assert served.status == 200 and await served.read() == provider.video
        assert served.headers["Content-Type"] == "video/mp4"
        tampered = await client.get(path.replace(f"expires={expires}", f"expires={expires + 1}"))
        assert tampered.status == 403
        other = await client.get(path.replace(job.id, "0" * len(job.id)))
        assert other.status == 403
        clock.advance(7 * 86400 + 1)
        expired = await client.get(path)
        assert expired.status == 410
