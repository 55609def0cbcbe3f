"""What both stores read the same way: patterns over the keys the jobs table stores
(`Origin.user_key`: `platform:workspace:user`), and what a written `due_at` means."""

from __future__ import annotations


def user_pattern(platform: str, user_id: str) -> str:
    """A LIKE pattern (escape character `!`) for one user's keys on a platform, whatever the
    workspace: `platform:%:user`."""

    def literal(text: str) -> str:
        return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")

    return f"{literal(platform)}:%:{literal(user_id)}"


def as_schedule(changes: dict[str, object]) -> dict[str, object]:
    """The changes a store writes for `changes`: a `due_at` written without a `leased_by` is a
    schedule (the next poll, a retry), not a lease, so the job's holder is cleared with it; a
    step that keeps the job for itself (`due_at` at the end of a lease) names its holder."""
    if "due_at" in changes and "leased_by" not in changes:
        return {**changes, "leased_by": None}
    return changes
