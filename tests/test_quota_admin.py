"""What admins steer: overrides, day resets, blocks, banned words, the usage report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.errors import InvalidRequest, QuotaExceeded, UserFacingError
from bot.jobs import JobService
from bot.models import GenerationRequest, JobState, ProviderJobState, ProviderStatus, QuotaLimits
from bot.moderation import REFUSAL
from storage.sqlite import SqliteStore
from tests.support import RecordingSurface, ScriptedProvider, make_service, origin

EIGHT = GenerationRequest(prompt="a lighthouse", duration_s=8)
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def service(store: SqliteStore, tmp_path: Path) -> JobService:
    return make_service(
        store,
        tmp_path,
        providers={"scripted": ScriptedProvider()},
        surfaces={"chat": RecordingSurface()},
        limits=QuotaLimits(16, 100, 0),
        clock=ManualClock(NOW),
    )


async def fill(service: JobService, user: str = "u1", workspace: str = "w1") -> int:
    """Submit 8 s jobs until refused; how many went through."""
    count = 0
    while True:
        try:
            await service.submit(EIGHT, origin(user=user, workspace=workspace))
        except QuotaExceeded:
            return count
        count += 1


async def test_user_overrides_beat_workspace_overrides_beat_defaults(service: JobService) -> None:
    await service.set_limits("workspace", "chat:w1", daily_s=32)
    await service.set_limits("user", "chat:w1:vip", daily_s=48)
    assert await fill(service, "someone") == 4
    assert await fill(service, "vip") == 6
    assert await fill(service, "other", workspace="w2") == 2  # defaults elsewhere

    assert await service.clear_limits("user", "chat:w1:vip")
    report = await service.quota_report(origin(user="vip"))
    assert (report.daily_limit_s, report.used_today_s) == (32, 48)


async def test_a_workspace_monthly_override_caps_the_workspace(service: JobService) -> None:
    await service.set_limits("workspace", "chat:w1", monthly_s=20)
    assert await fill(service, "a") == 2
    with pytest.raises(QuotaExceeded) as refused:
        await service.submit(EIGHT, origin(user="b"))
    assert refused.value.limit == "workspace_monthly"


async def test_bad_limits_are_refused(service: JobService) -> None:
    with pytest.raises(InvalidRequest, match="cannot be negative"):
        await service.set_limits("user", "chat:w1:u1", daily_s=-1)
    with pytest.raises(InvalidRequest, match="belongs to a workspace"):
        await service.set_limits("user", "chat:w1:u1", monthly_s=10)
    with pytest.raises(InvalidRequest, match="at least one limit"):
        await service.set_limits("workspace", "chat:w1")


async def test_resetting_a_users_day_gives_the_day_back(service: JobService) -> None:
    assert await fill(service) == 2
    await service.reset_day("chat:w1:u1")
    assert (await service.quota_report(origin())).used_today_s == 0
    clock = service.clock
    assert isinstance(clock, ManualClock)
    clock.advance(1)
    assert await fill(service) == 2


async def test_a_blocked_user_is_refused_plainly_and_charged_nothing(
    service: JobService, store: SqliteStore
) -> None:
    assert await service.set_blocked("chat:w1:u1", True)
    with pytest.raises(UserFacingError) as refused:
        await service.submit(EIGHT, origin())
    assert refused.value.code == "blocked"
    assert await store.ledger() == []
    assert await service.set_blocked("chat:w1:u1", False)
    await service.submit(EIGHT, origin())


@pytest.mark.parametrize(
    ("term", "prompt", "refused"),
    [
        ("gore", "so much Gore!", True),
        ("gore", "a gorey tale", False),
        ("gore", "Al Gore", True),
        ("red wedding", "the Red   Wedding scene", True),
        ("red wedding", "a red dress at a wedding", False),
        ("re:kill(s|ed)?", "he KILLED it", True),
        ("re:kill(s|ed)?", "skills", True),  # a pattern is the admin's own regular expression
    ],
)
async def test_banned_terms_match_case_insensitively_on_word_boundaries(
    service: JobService, store: SqliteStore, term: str, prompt: str, refused: bool
) -> None:
    await service.set_banned("chat:w1", term, True)
    request = GenerationRequest(prompt=prompt, duration_s=8)
    if refused:
        with pytest.raises(UserFacingError) as caught:
            await service.submit(request, origin())
        assert caught.value.user_message == REFUSAL
        word = term.rsplit(":", maxsplit=1)[-1].split(maxsplit=1)[0].lower()
        assert word not in caught.value.user_message.lower()
        assert await store.ledger() == []
    else:
        await service.submit(request, origin())
    await service.submit(request, origin(workspace="w2"))  # other workspaces are unaffected


async def test_the_negative_prompt_is_checked_too_and_bad_patterns_are_refused(
    service: JobService,
) -> None:
    await service.set_banned("chat:w1", "blood", True)
    with pytest.raises(UserFacingError, match="does not allow"):
        await service.submit(EIGHT.model_copy(update={"negative_prompt": "no blood"}), origin())
    with pytest.raises(InvalidRequest, match="not a valid regular expression"):
        await service.set_banned("chat:w1", "re:(unclosed", True)
    assert await service.set_banned("chat:w1", "blood", False)
    await service.submit(EIGHT.model_copy(update={"negative_prompt": "no blood"}), origin())


async def test_the_usage_report_matches_the_ledger(service: JobService, store: SqliteStore) -> None:
    kept = await service.submit(EIGHT, origin(user="a"))
    failed = await service.submit(EIGHT.model_copy(update={"duration_s": 4}), origin(user="a"))
    await service.submit(EIGHT, origin(user="b"))
    await service.advance(kept)
    submitted = await store.get_job(kept.id)
    assert submitted is not None
    await service.apply_status(submitted, ProviderStatus(ProviderJobState.SUCCEEDED, video_url="m"))
    await service.advance(failed)
    failing = await store.get_job(failed.id)
    assert failing is not None
    await service.apply_status(failing, ProviderStatus(ProviderJobState.FAILED))
    done = await store.get_job(kept.id)
    assert done is not None and done.state is JobState.DELIVERED

    rows = await service.usage(workspace_key="chat:w1")
    assert [(r.user_key, r.jobs, r.settled_s, r.reserved_s, r.refunded_jobs) for r in rows] == [
        ("chat:w1:a", 2, 8, 0, 1),
        ("chat:w1:b", 1, 0, 8, 0),
    ]
    ledger = await store.ledger()
    assert sum(r.settled_s + r.reserved_s for r in rows) == sum(
        row["seconds"] for row in ledger if row["status"] != "refunded"
    )
    assert await service.usage(month="2026-10") == []
