"""The `make_bot` fixture for every Vertex test."""

from tests.vertex.support import make_bot  # noqa: F401 - a fixture
