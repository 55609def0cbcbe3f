"""The `make_bot` fixture for every fal.ai test."""

from tests.fal.support import make_bot  # noqa: F401 - a fixture
