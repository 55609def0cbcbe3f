"""A person's own videos: their history, paged by keyset, and who may see a job's details.

A page's cursor is the (`created_at`, `id`) of its last job, written as text so that it fits
in a button's custom id and survives a restart: the next page is what is strictly older.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.models import Job
from bot.ports import Store

# Entries on one page: Discord shows each with its own row of buttons, five rows at most,
# one of them for "Older".
PAGE_SIZE = 4
_SEPARATOR = "~"


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of a person's jobs, newest first, and the cursor of the next (None: none)."""

    jobs: list[Job]
    next_cursor: str | None


def cursor_of(job: Job) -> str:
    """The cursor after `job`: its creation moment (exactly, as `repr` keeps floats) and id."""
    return f"{job.created_at!r}{_SEPARATOR}{job.id}"


def parse_cursor(cursor: str) -> tuple[float, str] | None:
    """The keyset a cursor names; None when it is not one of ours."""
    moment, separator, job_id = cursor.partition(_SEPARATOR)
    if not separator or not job_id:
        return None
    try:
        return float(moment), job_id
    except ValueError:
        return None


def visible_to(job: Job, user_id: str) -> bool:
    """Whether this person (a user id of the job's platform) may see the job's details:
    anyone, unless the result is private, which only its requester sees."""
    return not job.request.private or job.origin.user_id == user_id


async def history_page(
    store: Store, user_key: str, *, cursor: str | None = None, size: int = PAGE_SIZE
) -> HistoryPage:
    """The page of the person's jobs after `cursor` (the newest without one)."""
    before = parse_cursor(cursor) if cursor else None
    jobs = await store.user_history(user_key, limit=size + 1, before=before)
    more = len(jobs) > size
    jobs = jobs[:size]
    return HistoryPage(jobs, cursor_of(jobs[-1]) if more and jobs else None)
