"""The `Store` contract for several processes on one database, on SQLite and PostgreSQL:
files in the database (blobs, streamed in rows of at most 1 MiB), jobs owned by one process
(`veo-bot try`), and leases a starting process takes over only from dead processes."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING

import asyncpg
import pytest

from storage import is_postgres, sqlite_path
from storage.sqlite import BLOB_CHUNK_BYTES
from tests.test_store_conformance import LIMITS, NOW, PERIOD, job

if TYPE_CHECKING:
    from storage import AnyStore

MIB = 1024 * 1024


async def pieces(data: bytes, size: int = 300_000) -> AsyncIterator[bytes]:
    """`data` as a download yields it: in pieces that are not the store's rows."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_all(store: AnyStore, name: str) -> bytes:
    return b"".join([chunk async for chunk in store.read_blob(name)])


async def chunk_rows(database_url: str) -> list[tuple[str, int]]:
    """(blob name, row length) of every stored row, read as another process would."""
    query = "SELECT name, length(data) FROM blob_chunks ORDER BY name, seq"
    if is_postgres(database_url):
        db = await asyncpg.connect(database_url)
        try:
            return [(str(r[0]), int(r[1])) for r in await db.fetch(query)]
        finally:
            await db.close()
    with sqlite3.connect(sqlite_path(database_url)) as conn:
        return [(str(r[0]), int(r[1])) for r in conn.execute(query)]


# --- blobs -----------------------------------------------------------------------------------


async def test_a_blob_is_stored_in_rows_of_at_most_one_mib_and_reads_back_whole(
    any_store: AnyStore, database_url: str
) -> None:
    data = os.urandom(2 * MIB + 12345)
    assert await any_store.put_blob("jobs/a/video.mp4", pieces(data), now=NOW) == len(data)
    assert await any_store.blob_size("jobs/a/video.mp4") == len(data)
    assert await read_all(any_store, "jobs/a/video.mp4") == data
    rows = await chunk_rows(database_url)
    assert [length for _, length in rows] == [MIB, MIB, 12345]
    assert BLOB_CHUNK_BYTES == MIB
    # The reader yields row by row, never the whole file at once.
    sizes = [len(chunk) async for chunk in any_store.read_blob("jobs/a/video.mp4")]
    assert max(sizes) <= MIB


async def test_an_empty_blob_and_a_missing_one(any_store: AnyStore) -> None:
    assert await any_store.put_blob("empty", pieces(b""), now=NOW) == 0
    assert await any_store.blob_size("empty") == 0
    assert await read_all(any_store, "empty") == b""
    assert await any_store.blob_size("nothing") is None
    with pytest.raises(FileNotFoundError):
        await read_all(any_store, "nothing")


async def test_replacing_a_blob_drops_the_old_rows(any_store: AnyStore, database_url: str) -> None:
    await any_store.put_blob("x", pieces(b"old" * 1000), now=NOW)
    await any_store.put_blob("x", pieces(b"new!"), now=NOW + 1)
    assert await read_all(any_store, "x") == b"new!"
    assert await chunk_rows(database_url) == [("x", 4)]


async def test_an_upload_cut_short_leaves_neither_blob_nor_rows(
    any_store: AnyStore, database_url: str
) -> None:
    await any_store.put_blob("kept", pieces(b"before"), now=NOW)

    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(MIB + 1)  # one row is written before it breaks
        raise OSError("the download broke")

    with pytest.raises(OSError, match="download broke"):
        await any_store.put_blob("kept", broken(), now=NOW)
    # The blob of that name is the one from before, whole.
    assert await read_all(any_store, "kept") == b"before"
    assert await chunk_rows(database_url) == [("kept", 6)]


async def test_deleting_blobs(any_store: AnyStore, database_url: str) -> None:
    for name in ("a", "b", "c"):
        await any_store.put_blob(name, pieces(name.encode() * 10), now=NOW)
    assert await any_store.delete_blobs(["a", "b", "missing"]) == 2
    assert await any_store.delete_blobs([]) == 0
    assert await any_store.blob_size("a") is None
    assert await read_all(any_store, "c") == b"c" * 10
    assert await chunk_rows(database_url) == [("c", 10)]


# --- owned jobs and leases -------------------------------------------------------------------


async def test_an_owned_job_is_claimed_only_by_its_owner(any_store: AnyStore) -> None:
    owned = replace(job("mine"), owner="host:1:aa", owner_until=NOW + 30)
    await any_store.create_job(owned, [], LIMITS, PERIOD)
    await any_store.create_job(job("free"), [], LIMITS, PERIOD)
    stored = await any_store.get_job("mine")
    assert stored is not None and (stored.owner, stored.owner_until) == ("host:1:aa", NOW + 30)

    # A server (no owner) takes the unowned job only; another owner takes nothing.
    taken = await any_store.claim_due(
        now=NOW, lease_s=30, limit=10, platforms=["chat"], holder="server:2:bb"
    )
    assert [(j.id, j.leased_by) for j in taken] == [("free", "server:2:bb")]
    other = await any_store.claim_due(
        now=NOW, lease_s=30, limit=10, platforms=["chat"], owner="host:3:cc"
    )
    assert other == []
    assert await any_store.next_due_at(["chat"]) == NOW + 30  # "free", leased
    assert await any_store.next_due_at(["chat"], owner="host:3:cc") is None
    assert await any_store.next_due_at(["chat"], owner="host:1:aa") == NOW
    [mine] = await any_store.claim_due(
        now=NOW, lease_s=30, limit=10, platforms=["chat"], owner="host:1:aa", holder="host:1:aa"
    )
    assert (mine.id, mine.leased_by) == ("mine", "host:1:aa")


async def test_the_owners_heartbeat_changes_no_version_and_ends_with_the_job(
    any_store: AnyStore,
) -> None:
    owned = replace(job("mine"), owner="o", owner_until=NOW + 30)
    await any_store.create_job(owned, [], LIMITS, PERIOD)
    before = await any_store.get_job("mine")
    assert await any_store.renew_ownership("o", until=NOW + 90) == 1
    after = await any_store.get_job("mine")
    assert before is not None and after is not None
    assert (after.owner_until, after.version) == (NOW + 90, before.version)
    assert await any_store.renew_ownership("someone else", until=NOW + 90) == 0
    # Adoption is an ordinary compare-and-set of the owner.
    adopted = await any_store.update(
        "mine", version=after.version, now=NOW + 1, owner="new", owner_until=NOW + 40
    )
    assert adopted is not None and adopted.owner == "new"
    assert await any_store.renew_ownership("o", until=NOW + 99) == 0


async def test_a_starting_process_takes_only_leases_of_dead_workers(
    any_store: AnyStore,
) -> None:
    for name in ("alive", "dead", "old"):
        await any_store.create_job(job(name), [], LIMITS, PERIOD)
    await any_store.claim_due(
        now=NOW, lease_s=300, limit=1, platforms=["chat"], exclude=["dead", "old"], holder="L"
    )
    await any_store.claim_due(
        now=NOW, lease_s=300, limit=1, platforms=["chat"], exclude=["alive", "old"], holder="D"
    )
    # "old" has a schedule (its next poll), not a lease: it stays as planned.
    [old] = await any_store.claim_due(now=NOW, lease_s=300, limit=1, platforms=["chat"])
    await any_store.update("old", version=old.version, now=NOW, due_at=NOW + 300)
    assert await any_store.lease_holders(now=NOW + 1, platforms=["chat"]) == ["D", "L"]
    assert await any_store.lease_holders(now=NOW + 301, platforms=["chat"]) == []
    assert await any_store.reschedule_active(now=NOW + 1, platforms=["chat"], holders=["D"]) == 1
    due = await any_store.claim_due(
        now=NOW + 1, lease_s=30, limit=10, platforms=["chat"], holder="N"
    )
    assert [(j.id, j.lease_taken_from) for j in due] == [("dead", "D")]
    # A starting process looks at once at what names no holder (a database from before
    # holders were recorded has its leases so).
    assert await any_store.reschedule_active(now=NOW + 2, platforms=["chat"], unheld=True) == 1
    [old_again] = await any_store.claim_due(now=NOW + 2, lease_s=30, limit=10, platforms=["chat"])
    assert old_again.id == "old"
    # The live worker's lease stays its own until it runs out.
    alive = await any_store.get_job("alive")
    assert alive is not None and alive.due_at == NOW + 300 and alive.leased_by == "L"
