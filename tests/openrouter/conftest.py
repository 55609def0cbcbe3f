"""The `bot` fixture for every OpenRouter test."""

from tests.openrouter.support import bot  # noqa: F401 - a fixture
