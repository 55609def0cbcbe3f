"""Where a job's files live on this machine, under the work directory: a scratch folder for
each delivery run, and `results/<job id>.mp4` for a video kept on disk (behind a result link,
or refused where it was asked for). Blocking calls: run them in a worker thread."""

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
        """Move a result into the results directory, dropping results whose links have
        expired (last changed before `older_than`); where it is kept."""
        kept = self.kept(job_id)
        kept.parent.mkdir(parents=True, exist_ok=True)
        for old in kept.parent.glob("*.mp4"):
            if old.stat().st_mtime < older_than:
                old.unlink(missing_ok=True)
        os.replace(path, kept)
        return kept

    def move_into_kept(self, path: Path, job_id: str) -> Path:
        """Move a file to where the job's video is kept when it is still there (else it was
        moved there already); where it is kept."""
        kept = self.kept(job_id)
        if path.exists():
            kept.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, kept)
        return kept
