"""Model lists that providers publish at run time (OpenRouter's `GET /videos/models`), kept in
the catalog: the last list read is cached on disk, one JSON file per provider, so a restart
without network still offers it; the list is read again at start and once a day after that.

A list that cannot be read, or that holds no model the bot can offer, changes nothing: the
models offered before (yesterday's list, or the provider's built-in table) stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from bot.catalog import Catalog
from bot.clock import Clock
from bot.errors import ProviderError
from bot.ports import ModelSource

log = logging.getLogger(__name__)

REFRESH_S = 24 * 3600.0
RETRY_S = 3600.0  # after a failed reading: sooner than a day, not hammering a provider that is down
FETCH_TIMEOUT_S = 20.0


class LiveModels:
    """Keeps the catalog's run-time model lists fresh: cached at start, read again on schedule."""

    def __init__(
        self,
        catalog: Catalog,
        sources: Mapping[str, ModelSource],
        cache_dir: Path,
        clock: Clock,
        *,
        refresh_s: float = REFRESH_S,
        retry_s: float = RETRY_S,
        timeout_s: float = FETCH_TIMEOUT_S,
    ) -> None:
        self._catalog = catalog
        self._sources = dict(sources)
        self._cache_dir = cache_dir
        self._clock = clock
        self._refresh_s = refresh_s
        self._retry_s = retry_s
        self._timeout_s = timeout_s
        self._task: asyncio.Task[None] | None = None

    async def load_cached(self) -> None:
        """Offer the lists read last time, before any network call."""
        for name, source in self._sources.items():
            listing = await asyncio.to_thread(self._read_cache, name)
            if listing is not None:
                self._apply(name, source, listing, origin="cached list")

    async def refresh(self) -> bool:
        """Read every provider's list now; True when all of them answered."""
        answered = True
        for name, source in self._sources.items():
            try:
                listing = await asyncio.wait_for(source.fetch_models(), self._timeout_s)
            except (ProviderError, TimeoutError) as err:
                log.warning("%s: could not read its model list (%s); models unchanged", name, err)
                answered = False
                continue
            if self._apply(name, source, listing, origin="live list"):
                await asyncio.to_thread(self._write_cache, name, listing)
        return answered

    async def start(self) -> None:
        """Read the lists now (in the background) and again every `refresh_s`."""
        if self._sources and self._task is None:
            self._task = asyncio.create_task(self._run(), name="live-models")

    async def stop(self) -> None:
        """Stop the scheduled reading."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                answered = await self.refresh()
            except Exception:  # a bug here must not stop the daily reading for good
                log.exception("reading the providers' model lists failed")
                answered = False
            await asyncio.sleep(self._refresh_s if answered else self._retry_s)

    def _apply(self, name: str, source: ModelSource, listing: object, *, origin: str) -> bool:
        try:
            specs = source.read_models(listing)
            if specs:
                self._catalog.replace_models(name, specs)
        except ValueError as err:
            log.warning("%s: its %s is unusable (%s); models unchanged", name, origin, err)
            return False
        if not specs:
            log.warning("%s: its %s has no model the bot can offer; models unchanged", name, origin)
            return False
        log.info("%s: %d models offered from its %s", name, len(specs), origin)
        return True

    def _path(self, name: str) -> Path:
        return self._cache_dir / f"{name}.json"

    def _read_cache(self, name: str) -> object | None:
        path = self._path(name)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            log.warning("%s: ignoring the cached model list %s: %s", name, path, err)
            return None
        return document.get("listing") if isinstance(document, dict) else None

    def _write_cache(self, name: str, listing: object) -> None:
        path = self._path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".json.partial")
            document = {"provider": name, "read_at": self._clock.now(), "listing": listing}
            partial.write_text(json.dumps(document), encoding="utf-8")
            os.replace(partial, path)  # a crash mid-write leaves the previous list whole
        except OSError as err:
            log.warning("%s: could not cache its model list in %s: %s", name, path, err)
