"""Video provider adapters, one module per API family; each owns the table of its models."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from adapters.providers import (
    aimlapi,
    fal,
    gateway,
    gemini,
    local,
    openrouter,
    replicate,
    useapi,
    vertex,
)
from adapters.providers.aimlapi import AimlapiProvider
from adapters.providers.fal import FalProvider
from adapters.providers.gateway import GatewayProvider
from adapters.providers.gemini import GeminiProvider
from adapters.providers.local import LocalProvider
from adapters.providers.openrouter import OpenRouterProvider
from adapters.providers.replicate import ReplicateProvider
from adapters.providers.useapi import UseapiProvider
from adapters.providers.vertex import VertexProvider
from bot.catalog import Catalog
from bot.links import MediaLinks
from bot.ports import VideoProvider
from bot.settings import Settings
from bot.shared_files import Blobs


def build_providers(
    settings: Settings, work_dir: Path, links: MediaLinks, shared: Blobs | None = None
) -> dict[str, VideoProvider]:
    """Every provider this configuration can reach. `local` needs nothing and is always on
    (its renders in `shared`, the store's blobs, when given, so any process can serve them);
    the others start when their key is set."""
    providers: dict[str, VideoProvider] = {
        "local": LocalProvider(work_dir / "local-renders", shared=shared),
    }
    if settings.useapi_token is not None:
        providers["useapi"] = UseapiProvider(
            settings.useapi_token.get_secret_value(),
            email=settings.useapi_email,
            base_url=settings.useapi_base_url,
        )
    if settings.gateway_api_key is not None and settings.gateway_base_url:
        providers["gateway"] = GatewayProvider(
            settings.gateway_base_url,
            settings.gateway_api_key.get_secret_value(),
            links,
            dialect=settings.gateway_dialect,
        )
    if settings.aimlapi_key is not None:
        providers["aimlapi"] = AimlapiProvider(
            settings.aimlapi_key.get_secret_value(), links, base_url=settings.aimlapi_base_url
        )
    if settings.gemini_api_key is not None:
        providers["gemini"] = GeminiProvider(
            settings.gemini_api_key.get_secret_value(), base_url=settings.gemini_base_url
        )
    if settings.vertex_project is not None:
        providers["vertex"] = VertexProvider.from_settings(settings)
    if settings.fal_key is not None:
        providers["fal"] = FalProvider(
            settings.fal_key.get_secret_value(),
            links,
            queue_url=settings.fal_queue_url,
            jwks_urls=(settings.fal_jwks_url,) if settings.fal_jwks_url else fal.DEFAULT_JWKS_URLS,
        )
    if settings.replicate_api_token is not None:
        secret = settings.replicate_webhook_secret
        providers["replicate"] = ReplicateProvider(
            settings.replicate_api_token.get_secret_value(),
            links,
            base_url=settings.replicate_base_url,
            webhook_secret=secret.get_secret_value() if secret is not None else None,
        )
    if settings.openrouter_api_key is not None:
        secret = settings.openrouter_webhook_secret
        providers["openrouter"] = OpenRouterProvider(
            settings.openrouter_api_key.get_secret_value(),
            links,
            base_url=settings.openrouter_base_url,
            webhook_secret=secret.get_secret_value() if secret is not None else None,
        )
    return providers


# With VEO_PROVIDER unset, the default provider follows the keys present: the first of these
# that is configured and has a live model. `local` needs no key, so a bot without any (`make
# demo`) stays on it.
DEFAULT_PRECEDENCE = (
    "vertex",
    "gemini",
    "fal",
    "replicate",
    "openrouter",
    "gateway",
    "aimlapi",
    "useapi",
    "local",
)


def default_provider(configured: Collection[str], catalog: Catalog) -> str:
    """The provider requests go to when neither VEO_PROVIDER nor the request names one."""
    for name in DEFAULT_PRECEDENCE:
        if name in configured and catalog.models(name):
            return name
    return "local"


def default_catalog(gateway_dialect: str = "images", *, vertex_extend: bool = False) -> Catalog:
    """Every model of every provider; the gateway's models follow its request dialect,
    Vertex offers extension only when its results are kept in Cloud Storage, and
    OpenRouter's are its fallback table until its live list is read (`bot.live_models`)."""
    gateway_models = gateway.VEO31_MODELS if gateway_dialect == "veo31" else gateway.IMAGES_MODELS
    return Catalog(
        (
            *local.MODELS,
            *useapi.MODELS,
            *gateway_models,
            *aimlapi.MODELS,
            *gemini.MODELS,
            *vertex.models(extend=vertex_extend),
            *fal.MODELS,
            *replicate.MODELS,
            *openrouter.MODELS,
        )
    )
