"""What is PostgreSQL's own in the PostgreSQL store: its indexes as the planner uses them, and
how a server that cannot be used is reported. The contract both stores keep is
tests/test_store_conformance.py."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import asyncpg
import pytest

from bot.errors import ConfigurationError
from storage.postgres import ACTIVE_AS_INDEXED, PostgresStore


async def test_the_schedulers_queries_use_the_partial_index_of_active_jobs(
    postgres_url: str,
) -> None:
    store = await PostgresStore.open(postgres_url)
    await store.close()
    db = await asyncpg.connect(postgres_url)
    try:
        # On a table this small a scan is cheapest; the question is whether the index can
        # serve these queries at all, as it must once the table holds every job ever made.
        await db.execute("SET enable_seqscan = off")
        for query, params in (
            (
                f"""SELECT id FROM jobs WHERE {ACTIVE_AS_INDEXED}
                      AND due_at <= $1 AND platform = ANY($2::text[])
                      AND NOT (id = ANY($3::text[]))
                    ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED""",
                (0.0, ["slack"], [], 10),
            ),
            (
                f"""SELECT MIN(due_at) FROM jobs WHERE {ACTIVE_AS_INDEXED}
                      AND platform = ANY($1::text[]) AND NOT (id = ANY($2::text[]))""",
                (["slack"], []),
            ),
        ):
            plan = "\n".join(row[0] for row in await db.fetch(f"EXPLAIN {query}", *params))
            assert "jobs_due" in plan, plan
    finally:
        await db.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_server_that_does_not_answer_is_a_configuration_error_without_the_password() -> (
    None
):
    url = f"postgresql://veo:hunter2@127.0.0.1:{closed_port()}/veo"
    with pytest.raises(ConfigurationError) as refused:
        await PostgresStore.open(url)
    message = str(refused.value)
    assert message.startswith("cannot open the database at postgresql://veo:***@127.0.0.1:")
    assert "hunter2" not in message


async def test_a_database_that_does_not_exist_is_named(postgres_url: str) -> None:
    parts = urlsplit(postgres_url)
    missing = parts._replace(path="/veo_no_such_database", query="").geturl()
    with pytest.raises(ConfigurationError, match='database "veo_no_such_database" does not exist'):
        await PostgresStore.open(missing)
