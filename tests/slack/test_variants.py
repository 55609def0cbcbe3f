"""Takes on Slack (issue 18, variants): the form's count, every take's video shared in one
upload v2 call, one message with a Re-roll per take."""

from __future__ import annotations

from pathlib import Path

from bot.models import JobState, QuotaLimits
from storage.sqlite import SqliteStore
from tests.fakes.slack import select_value, text_value
from tests.slack.support import card_of, result_of, running_bot


async def test_two_takes_are_shared_in_one_upload_call_under_one_message(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        await bot.command("")
        view = await bot.opened_view()
        count = next(b for b in view["blocks"] if b.get("block_id") == "count")
        assert [o["value"] for o in count["element"]["options"]] == ["1", "2", "3", "4"]

        answers = {"prompt": text_value("a fox in the snow"), "count": select_value("2")}
        assert (await bot.interact(fake.view_submission_payload(view, answers))).body == ""
        some = await bot.next_job()
        assert some.group_id is not None
        takes = await bot.store.group_jobs(some.group_id)
        finished = [await bot.finished(take) for take in takes]

        assert [t.state for t in finished] == [JobState.DELIVERED] * 2
        thread = card_of(fake, finished[0]).ts
        assert [f.name for f in fake.videos("C1", thread)] == [f"veo-{t.id}.mp4" for t in finished]
        shares = [r for r in fake.requests if r.path == "/api/files.completeUploadExternal"]
        assert len(shares) == 1
        message = result_of(fake, finished[0])
        assert result_of(fake, finished[1]).ts == message.ts
        assert "your 2 videos are ready" in message.text + str(message.blocks)
        message.button("veo_reroll_1")
        message.button("veo_reroll_2")

        reply = await bot.interact(fake.block_action_payload(message, "veo_reroll_2", user="U2"))
        assert (reply.status, reply.body) == (200, "")
        again = await bot.finished(await bot.next_job(2))
        assert again.origin.user_id == "U2" and again.request.prompt == "a fox in the snow"
        assert again.group_id is None


async def test_the_form_refuses_takes_that_do_not_fit(store: SqliteStore, tmp_path: Path) -> None:
    limits = QuotaLimits(user_daily_s=20, user_concurrent=2, workspace_monthly_s=0)
    async with running_bot(store, tmp_path, limits=limits) as bot:
        await bot.command("")
        view = await bot.opened_view()
        answers = {"prompt": text_value("a fox"), "count": select_value("3")}
        reply = await bot.interact(bot.fake.view_submission_payload(view, answers))
        answer = reply.json()
        assert answer["response_action"] == "errors"  # shown on the form, which stays open
        assert "3 videos do not fit, but 2 would" in str(answer["errors"])
        assert await bot.jobs() == [] and bot.fake.calls_to("chat.postMessage") == []
