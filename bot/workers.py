"""Who a process is among the processes sharing one database, and whether another is dead.

A worker id is `<host>:<pid>:<random>`: the random part makes it unique even when a pid is
reused. A lease (`Job.leased_by`) or an ownership (`Job.owner`) held by a process on this
host whose pid no longer runs is known dead at once; one held on another host is only known
dead when its time runs out (the lease's `due_at`, the ownership's `owner_until`)."""

from __future__ import annotations

import os
import secrets
import socket

from bot.models import Job

# The workers of this process whose scheduler runs: a process may hold several in turn (a
# service stopped and another started, as tests restart one) and only these are alive.
_RUNNING_HERE: set[str] = set()


def new_worker_id() -> str:
    """An id for this process, unique among every process that ever used the database."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def started(worker: str) -> None:
    """`worker`'s scheduler runs in this process: it holds leases from now on."""
    _RUNNING_HERE.add(worker)


def stopped(worker: str) -> None:
    """`worker`'s scheduler has stopped: its leases are a dead worker's."""
    _RUNNING_HERE.discard(worker)


def alive_here(worker: str) -> bool | None:
    """Whether `worker`, a process on this host, still runs; None when that cannot be told
    from here (another host, or an id that is not one of ours)."""
    host, _, rest = worker.partition(":")
    pid_text, _, _token = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    if pid == os.getpid():
        return worker in _RUNNING_HERE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it runs, as another user
    return True


def known_dead(worker: str) -> bool:
    """Whether `worker` was a process on this host that no longer runs."""
    return alive_here(worker) is False


def orphaned(job: Job, *, now: float) -> bool:
    """Whether nobody vouches for the job's owner any more: no owner, a process on this host
    that is gone, or (on another host) one whose heartbeat has stopped."""
    if job.owner is None:
        return True
    alive = alive_here(job.owner)
    if alive is not None:
        return not alive
    return (job.owner_until or 0.0) < now
