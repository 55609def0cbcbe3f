"""Patterns over the keys the jobs table stores (`Origin.user_key`: `platform:workspace:user`)."""

from __future__ import annotations


def user_pattern(platform: str, user_id: str) -> str:
    """A LIKE pattern (escape character `!`) for one user's keys on a platform, whatever the
    workspace: `platform:%:user`."""

    def literal(text: str) -> str:
        return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")

    return f"{literal(platform)}:%:{literal(user_id)}"
