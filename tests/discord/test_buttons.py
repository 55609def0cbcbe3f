"""The buttons under a video on Discord: Re-roll, Delete and Extend, after a restart too, and a
retired model refused however it is asked for."""

from __future__ import annotations

from pathlib import Path

from bot.models import Job, JobState
from storage.sqlite import SqliteStore
from tests.discord.support import running_bot
from tests.fakes._base import sample_mp4
from tests.fakes.discord import MANAGE_GUILD, MEMBER_PERMISSIONS, FakeDiscord
from tests.support import ScriptedProvider


async def test_re_roll_makes_a_new_job_charged_to_whoever_clicked(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        await bot.reply(await fake.slash("veo", {"prompt": "a paper boat", "seed": 7}))
        first = await bot.finished(await bot.next_job())
        video = await bot.video_message(first)
        colleague = fake.add_user("colleague")

        click = await fake.click(video, "Re-roll", user=colleague)
        reply = await bot.reply(click)
        second = await bot.finished(await bot.next_job(1))

        assert f"Queued as job `{second.id}`" in reply
        assert second.origin.user_id == str(colleague.id)
        assert second.request.prompt == "a paper boat"
        assert second.request.seed is not None and second.request.seed != 7
        assert await bot.ledger(second) == "settled"
        # Clicked in the thread, so the new card and video stay in that thread.
        assert second.origin.thread_id == str(bot.thread_of(first))
        videos = [m for m in fake.bot_messages_in(bot.thread_of(first)) if m.videos]
        assert len(videos) == 2 and videos[1].videos[0].filename == f"veo-{second.id}.mp4"
        assert len(fake.threads()) == 1


async def test_delete_is_for_the_requester_or_an_admin_only(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        author = fake.add_user("author")
        stranger = fake.add_user("stranger")
        moderator = fake.add_user("moderator", permissions=MEMBER_PERMISSIONS | MANAGE_GUILD)
        jobs: list[Job] = []
        for prompt in ("a red balloon", "a blue balloon"):
            await bot.reply(await fake.slash("veo", {"prompt": prompt}, user=author))
            jobs.append(await bot.finished(await bot.next_job(len(jobs))))
        mine, other = [await bot.video_message(job) for job in jobs]

        refused = await fake.click(mine, "Delete", user=stranger)
        assert await bot.reply(refused) == (
            f"Only <@{author.id}>, who asked for this video, or an admin can delete it."
        )
        assert not mine.deleted

        deleted = await fake.click(mine, "Delete", user=author)
        assert await bot.reply(deleted) == "Deleted."
        assert mine.deleted
        by_admin = await fake.click(other, "Delete", user=moderator)
        assert await bot.reply(by_admin) == "Deleted."
        assert other.deleted


async def test_extend_asks_for_what_happens_next_and_continues_the_video(
    store: SqliteStore, tmp_path: Path
) -> None:
    gemini = ScriptedProvider(video=sample_mp4())
    gemini.name = "gemini"
    async with running_bot(store, tmp_path, providers={"gemini": gemini}) as bot:
        fake = bot.fake
        asked = await fake.slash(
            "veo", {"prompt": "a wave rolls in", "model": "gemini/gemini-omni-1.1-flash"}
        )
        await bot.reply(asked)
        first = await bot.finished(await bot.next_job())
        video = await bot.video_message(first)

        opened = await fake.click(video, "Extend")
        await fake.wait_for(lambda: opened.callbacks)
        assert opened.modal is not None
        submitted = await fake.submit_modal(opened, {"prompt": "it crashes on the rocks"})
        assert "Queued" in await bot.reply(submitted)
        second = await bot.finished(await bot.next_job(1))

        request = gemini.jobs[str(second.provider_job_id)].request
        assert request.prompt == "it crashes on the rocks"
        assert request.source_video == first.result_url


async def test_buttons_under_a_video_keep_working_after_a_restart(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with FakeDiscord() as fake:
        async with running_bot(store, tmp_path, fake=fake) as bot:
            await bot.reply(await fake.slash("veo", {"prompt": "a windmill"}))
            first = await bot.finished(await bot.next_job())
            video = await bot.video_message(first)

        async with running_bot(store, tmp_path, fake=fake) as again:
            click = await fake.click(video, "Re-roll")
            assert "Queued" in await again.reply(click)
            second = await again.finished(await again.next_job(1))

        assert second.request.prompt == "a windmill" and second.state is JobState.DELIVERED
        assert fake.identifies == 2


RETIRED_SENTENCE = (
    "Veo 3.1 Fast (veo-3.1-fast-generate-preview) was retired by Google on 2026-10-22; "
    "use gemini-omni-1.1-flash instead."
)


async def test_a_retired_model_is_refused_typed_or_re_rolled_and_never_offered(
    store: SqliteStore, tmp_path: Path
) -> None:
    gemini = ScriptedProvider(video=sample_mp4())
    async with FakeDiscord() as fake:
        # A video made while Google still served Veo 3.1 Fast on the Gemini API.
        async with running_bot(
            store, tmp_path, fake=fake, providers={"gemini": gemini}, unretired=("gemini",)
        ) as before:
            model = "gemini/veo-3.1-fast-generate-preview"
            await before.reply(await fake.slash("veo", {"prompt": "a windmill", "model": model}))
            old = await before.finished(await before.next_job())
            assert (old.model, old.state) == ("veo-3.1-fast-generate-preview", JobState.DELIVERED)
            video = await before.video_message(old)

        async with running_bot(store, tmp_path, fake=fake, providers={"gemini": gemini}) as bot:
            rerolled = await bot.reply(await fake.click(video, "Re-roll"))
            typed = await bot.reply(await fake.slash("veo", {"prompt": "a fox", "model": model}))
            offered = await fake.autocomplete("veo", "model", "", {"prompt": "x"})

        assert rerolled == typed == RETIRED_SENTENCE
        assert [job.id for job in await bot.jobs()] == [old.id]  # nothing new, nothing charged
        assert len(gemini.submits) == 1
        values = [c["value"] for c in offered]
        assert "gemini/gemini-omni-1.1-flash" in values
        assert not [v for v in values if v.startswith("gemini/veo-")]
