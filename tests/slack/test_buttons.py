"""The buttons under a video on Slack: Re-roll (refused for a retired model) and Delete, for
the requester or an admin."""

from __future__ import annotations

from pathlib import Path

from bot.models import JobState
from storage.sqlite import SqliteStore
from tests.fakes._base import sample_mp4
from tests.fakes.slack import FakeSlack, select_value, text_value
from tests.slack.support import card_of, result_of, running_bot
from tests.support import ScriptedProvider


async def test_re_roll_makes_a_new_video_charged_to_the_clicker(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        await bot.command("a fox", user="U1")
        first = await bot.finished(await bot.next_job())

        reply = await bot.interact(
            fake.block_action_payload(result_of(fake, first), "veo_reroll", user="U2")
        )
        assert (reply.status, reply.body) == (200, "")
        second = await bot.finished(await bot.next_job(1))

        assert second.origin.user_id == "U2" and second.request.prompt == "a fox"
        assert second.request.seed != first.request.seed
        thread = card_of(fake, first).ts
        assert second.origin.thread_id == thread and card_of(fake, second).thread_ts == thread
        assert len(fake.videos("C1", thread)) == 2
        usage = await bot.service.quota_report(second.origin)
        assert usage.used_today_s == 8


RETIRED_SENTENCE = (
    "Veo 3.1 Fast (veo-3.1-fast-generate-preview) was retired by Google on 2026-10-22; "
    "use gemini-omni-1.1-flash instead."
)


async def test_re_rolling_a_video_of_a_retired_model_is_refused_and_charges_nothing(
    store: SqliteStore, tmp_path: Path
) -> None:
    gemini = ScriptedProvider(video=sample_mp4())
    async with FakeSlack() as fake:
        # A video made while Google still served Veo 3.1 Fast on the Gemini API.
        async with running_bot(
            store,
            tmp_path,
            fake=fake,
            providers={"gemini": gemini},
            default_provider="gemini",
            unretired=("gemini",),
        ) as before:
            await before.command("")
            view = await before.opened_view()
            answers = {
                "prompt": text_value("a windmill"),
                "model": select_value("gemini/veo-3.1-fast-generate-preview"),
            }
            await before.interact(fake.view_submission_payload(view, answers))
            old = await before.finished(await before.next_job())
            assert (old.model, old.state) == ("veo-3.1-fast-generate-preview", JobState.DELIVERED)

        async with running_bot(
            store, tmp_path, fake=fake, providers={"gemini": gemini}, default_provider="gemini"
        ) as bot:
            await bot.interact(fake.block_action_payload(result_of(fake, old), "veo_reroll"))
            [refusal] = await fake.wait_for(lambda: fake.responses)
            await bot.command("")
            form = await bot.opened_view(2)

        assert refusal["text"] == RETIRED_SENTENCE
        assert refusal["response_type"] == "ephemeral"
        assert [job.id for job in await bot.jobs()] == [old.id]  # nothing new, nothing charged
        assert len(gemini.submits) == 1
        model = next(b for b in form["blocks"] if b.get("block_id") == "model")
        values = [option["value"] for option in model["element"]["options"]]
        assert values == ["gemini/gemini-omni-1.1-flash"]


async def test_delete_is_for_the_requester_or_an_admin(store: SqliteStore, tmp_path: Path) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        await bot.command("a fox", user="U1")
        done = await bot.finished(await bot.next_job())
        result = result_of(fake, done)
        thread = card_of(fake, done).ts
        [video] = fake.videos("C1", thread)

        await bot.interact(fake.block_action_payload(result, "veo_delete", user="U9"))
        [refusal] = await fake.wait_for(lambda: fake.responses)
        assert "Only <@U1>" in refusal["text"] and refusal["replace_original"] is False
        assert fake.videos("C1", thread) == [video]

        await bot.interact(fake.block_action_payload(result, "veo_delete", user="U1"))
        await fake.wait_for(lambda: not fake.videos("C1", thread))
        assert fake.calls_to("files.delete") == [{"file": video.id}]
        await fake.wait_for(lambda: "Deleted by <@U1>" in card_of(fake, done).all_text)
        assert result.deleted


async def test_an_admin_may_delete_anyones_video(store: SqliteStore, tmp_path: Path) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        await bot.command("a fox", user="U1")
        done = await bot.finished(await bot.next_job())

        await bot.interact(
            fake.block_action_payload(result_of(fake, done), "veo_delete", user="UADMIN")
        )

        await fake.wait_for(lambda: not fake.videos("C1", card_of(fake, done).ts))
