"""Telling whether another process on the database is alive: by its pid on this host, by its
heartbeat on another."""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import replace

from bot.workers import alive_here, known_dead, new_worker_id, orphaned, started, stopped
from tests.test_store_conformance import NOW, job

HOST = socket.gethostname()


def a_dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_worker_id_names_this_host_and_process_uniquely() -> None:
    first, second = new_worker_id(), new_worker_id()
    assert first != second
    assert first.startswith(f"{HOST}:{os.getpid()}:")


def test_a_worker_of_this_process_lives_while_its_scheduler_runs() -> None:
    # A service stopped and another started in one process (as tests restart one): the
    # first one's leases are a dead worker's.
    worker = new_worker_id()
    assert alive_here(worker) is False
    started(worker)
    try:
        assert alive_here(worker) is True and not known_dead(worker)
    finally:
        stopped(worker)
    assert known_dead(worker)


def test_a_process_on_this_host_is_alive_or_dead_by_its_pid() -> None:
    assert alive_here(f"{HOST}:{os.getppid()}:ab") is True
    assert known_dead(f"{HOST}:{a_dead_pid()}:ab")
    # Elsewhere, or not an id of ours: cannot be told from here.
    assert alive_here("another-host:1:ab") is None and not known_dead("another-host:1:ab")
    assert alive_here("garbage") is None


def test_a_job_is_orphaned_when_its_owner_is_gone_or_silent() -> None:
    mine = replace(job("a"), owner=f"{HOST}:{os.getppid()}:ab", owner_until=NOW - 100)
    assert not orphaned(mine, now=NOW)  # on this host and alive: its pid says so
    dead = replace(job("a"), owner=f"{HOST}:{a_dead_pid()}:ab", owner_until=NOW + 100)
    assert orphaned(dead, now=NOW)
    far = replace(job("a"), owner="another-host:1:ab", owner_until=NOW + 30)
    assert not orphaned(far, now=NOW) and orphaned(far, now=NOW + 31)
    assert orphaned(job("a"), now=NOW)  # nobody owns it
