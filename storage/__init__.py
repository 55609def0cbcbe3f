"""Where the bot keeps its state. `VEO_DATABASE_URL` picks the engine: `sqlite:///file.db`
(embedded, one bot process) or `postgresql://user@host:5432/db` (several replicas)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from storage.urls import POSTGRES_PREFIXES, SQLITE_PREFIX, is_postgres, shown, sqlite_path

__all__ = [
    "POSTGRES_PREFIXES",
    "SQLITE_PREFIX",
    "Migrated",
    "is_postgres",
    "migrate",
    "open_store",
    "shown",
    "sqlite_path",
]

if TYPE_CHECKING:
    from storage.postgres import PostgresStore
    from storage.sqlite import SqliteStore

    AnyStore: TypeAlias = SqliteStore | PostgresStore


@dataclass(frozen=True)
class Migrated:
    """What `migrate` did: the engine, the schema version now, the migrations it applied."""

    engine: str
    version: int
    applied: list[str]


async def open_store(url: str, *, sole_server: bool = False) -> AnyStore:
    """Open (creating and migrating) the database at `url`. `sole_server`: this process serves
    the bot (`veo-bot run`), which SQLite allows one process to do at a time; PostgreSQL takes
    any number. Each engine's module is imported only when it is used."""
    if is_postgres(url):
        from storage.postgres import PostgresStore  # noqa: PLC0415

        return await PostgresStore.open(url)
    from storage.sqlite import SqliteStore  # noqa: PLC0415

    return await SqliteStore.open(sqlite_path(url), sole_server=sole_server)


async def migrate(url: str) -> Migrated:
    """Bring the schema at `url` up to date and nothing else (`veo-bot migrate`)."""
    if is_postgres(url):
        from storage import postgres  # noqa: PLC0415

        version, applied = await postgres.migrate(url)
        return Migrated("PostgreSQL", version, applied)
    from storage.sqlite import SqliteStore  # noqa: PLC0415

    version, applied = await SqliteStore.migrate(sqlite_path(url))
    return Migrated("SQLite", version, applied)
