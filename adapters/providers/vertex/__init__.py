"""Vertex AI (Gemini Enterprise Agent Platform), Veo 3.1: the adapter, its service-account
tokens, the streamed reading of its operations, and its models."""

from adapters.providers.vertex._auth import (
    SCOPE,
    AccessTokens,
    load_key_file,
    service_account_credentials,
)
from adapters.providers.vertex._models import MODELS, models
from adapters.providers.vertex._provider import (
    INLINE_SCHEME,
    VertexProvider,
    base_url_for,
    request_body,
)

__all__ = [
    "INLINE_SCHEME",
    "MODELS",
    "SCOPE",
    "AccessTokens",
    "VertexProvider",
    "base_url_for",
    "load_key_file",
    "models",
    "request_body",
    "service_account_credentials",
]
