"""Database URLs as `VEO_DATABASE_URL` gives them: which engine, which file, and how messages
name them (never with the password)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")


def is_postgres(url: str) -> bool:
    """Whether a database URL names PostgreSQL (else it is a SQLite file)."""
    return url.startswith(POSTGRES_PREFIXES)


def sqlite_path(url: str) -> Path:
    """The file a `sqlite:///` URL names."""
    return Path(url.removeprefix(SQLITE_PREFIX))


def shown(url: str) -> str:
    """The database as messages name it: a SQLite file's path, or a URL without its password."""
    if not is_postgres(url):
        return str(sqlite_path(url))
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    return urlunsplit(parts._replace(netloc=netloc + (f":{parts.port}" if parts.port else "")))
