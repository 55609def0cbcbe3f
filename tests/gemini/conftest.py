"""The `make_bot` fixture for every Gemini API test."""

from tests.gemini.support import make_bot  # noqa: F401 - a fixture
