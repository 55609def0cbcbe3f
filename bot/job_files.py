"""Where a job's files live on this machine, under the work directory: a scratch folder for
each delivery run; `<job id>.mp4`, the bot's own copy of the provider's video from the
first download until the job ends; and `results/<job id>.mp4` for a video kept on disk
(behind a result link, or refused where it was asked for). Blocking calls: run them in a
worker thread (`drop_own_copy` is one unlink, fine anywhere)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


class JobFiles:
    """The paths of the jobs' files, and the file operations on them."""

    def __init__(self, work_dir: Path, results_dir: Path) -> None:
        self.work_dir = work_dir
        self.results_dir = results_dir

    def own_copy(self, job_id: str) -> Path:
        """The bot's own copy of the job's video as the provider delivered it."""
        return self.work_dir / f"{job_id}.mp4"

    def own_copy_size(self, job_id: str) -> int | None:
        """The size of the bot's copy, None when there is none."""
        try:
            return self.own_copy(job_id).stat().st_size
        except FileNotFoundError:
            return None

    def hold(self, downloaded: Path, job_id: str) -> None:
        """Make a complete download the bot's copy, in one move: a copy is never partial."""
        os.replace(downloaded, self.own_copy(job_id))  # the scratch folder is beside it

    def drop_own_copy(self, job_id: str) -> None:
        """Remove the bot's copy (the job has ended, or its files have expired)."""
        self.own_copy(job_id).unlink(missing_ok=True)

    def kept(self, job_id: str) -> Path:
        """Where the job's video is kept when it is kept on disk."""
        return self.results_dir / f"{job_id}.mp4"

    def new_scratch(self, job_id: str) -> Path:
        """A new, empty folder for one delivery run of one job."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{job_id}-", dir=self.work_dir))

    def remove_scratch(self, job_id: str) -> None:
        """Remove the scratch folders of the job's delivery runs that a crash cut short (a
        run removes its own)."""
        for folder in self.work_dir.glob(f"{job_id}-*"):
            shutil.rmtree(folder, ignore_errors=True)

    def keep(self, path: Path, job_id: str, *, older_than: float) -> Path:
        """Put a result into the results directory, dropping results whose links have expired
        (last changed before `older_than`); where it is kept. `path` stays where it is (it
        may be the bot's copy, which a later run needs): linked, or copied where links fail."""
        kept = self.kept(job_id)
        kept.parent.mkdir(parents=True, exist_ok=True)
        for old in kept.parent.glob("*.mp4"):
            if old.stat().st_mtime < older_than:
                old.unlink(missing_ok=True)
        part = kept.with_name(kept.name + ".part")
        part.unlink(missing_ok=True)
        try:
            os.link(path, part)
        except OSError:
            shutil.copyfile(path, part)
        os.replace(part, kept)
        return kept

    def move_into_kept(self, path: Path, job_id: str) -> Path:
        """Move a file to where the job's video is kept when it is still there (else it was
        moved there already); where it is kept."""
        kept = self.kept(job_id)
        if path.exists():
            kept.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, kept)
        return kept
