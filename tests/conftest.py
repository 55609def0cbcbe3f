from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.settings import Settings
from storage.sqlite import SqliteStore

_OUR_VARS = re.compile(
    r"^(DISCORD|SLACK|VEO|USEAPI|GATEWAY|AIMLAPI|GEMINI|VERTEX|GCS|FAL|REPLICATE|OPENROUTER)_"
    r"|^GOOGLE_APPLICATION_CREDENTIALS$"
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's configuration: our variables are removed and the working
    directory (where `.env` is read) is a fresh temporary one."""
    for name in list(os.environ):
        if _OUR_VARS.match(name):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        veo_database_url=f"sqlite:///{tmp_path / 'veo.db'}",
        veo_data_dir=tmp_path / "data",
        veo_poll_interval_s=0.02,
        veo_http_host="127.0.0.1",
        veo_http_port=0,
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "veo.db")
    yield opened
    await opened.close()
