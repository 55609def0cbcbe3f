"""Typed configuration: the environment-variable contract (README, "Configuration"), also read
from `.env`.

Built once by the composition root (`bot.app` / `bot.cli`) and passed in; never at import time.
Field names are the variable names, so the table in the README maps one to one.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot import money
from bot.budget import KINDS, NO_LIMIT, parse_limit
from bot.errors import InvalidRequest
from bot.models import QuotaLimits
from bot.shards import LEASE_TTL_S, MAX_SHARD_COUNT, RENEW_INTERVAL_S

ProviderName = Literal[
    "local",
    "useapi",
    "gateway",
    "aimlapi",
    "gemini",
    "vertex",
    "fal",
    "replicate",
    "openrouter",
]
# The providers whose request budgets the operator may set (VEO_BUDGET_<PROVIDER>_<KIND>).
_BUDGETED = ("useapi", "gateway", "aimlapi", "gemini", "vertex", "fal", "replicate", "openrouter")
# Vertex names that go into URLs: a project id (or number, or a legacy domain-scoped id), a
# location, and a Cloud Storage bucket.
_VERTEX_PROJECT = re.compile(r"[a-z0-9][a-z0-9.:-]{0,62}")
_VERTEX_LOCATION = re.compile(r"[a-z][a-z0-9-]{0,62}")
_GCS_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
# The HMAC key of every signed link and callback; shorter keys can be guessed or are empty.
MIN_WEBHOOK_SECRET_BYTES = 32


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Every setting, read once from the environment and `.env` by the composition root."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Discord
    discord_token: SecretStr | None = None
    discord_api_base: str = "https://discord.com/api/v10"
    discord_gateway_url: str | None = None
    discord_guild_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    # Shards across replicas (bot.shards): unset, Discord's recommended count, read once and
    # kept in the database. Leases are renewed every DISCORD_SHARD_RENEW_S and run out after
    # DISCORD_SHARD_TTL_S, when another replica takes the shard over.
    discord_shard_count: int | None = None
    discord_shard_renew_s: float = Field(default=RENEW_INTERVAL_S, gt=0)
    discord_shard_ttl_s: float = Field(default=LEASE_TTL_S, gt=0)

    # Slack
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    # Providers. Unset, the default provider follows the keys present (vertex, then gemini, …,
    # then local: `adapters.providers.DEFAULT_PRECEDENCE`).
    veo_provider: ProviderName | None = None
    veo_model: str | None = None
    useapi_token: SecretStr | None = None
    useapi_email: str | None = None
    useapi_base_url: str = "https://api.useapi.net"
    gateway_api_key: SecretStr | None = None
    gateway_base_url: str | None = None
    gateway_dialect: Literal["images", "veo31"] = "images"
    aimlapi_key: SecretStr | None = None
    aimlapi_base_url: str = "https://api.aimlapi.com"
    gemini_api_key: SecretStr | None = None
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    vertex_project: str | None = None
    vertex_location: str = "us-central1"
    google_application_credentials: Path | None = None
    vertex_base_url: str | None = None  # tests only; else the location's own host
    vertex_output_gcs_uri: str | None = None
    gcs_base_url: str = "https://storage.googleapis.com"
    fal_key: SecretStr | None = None
    fal_queue_url: str = "https://queue.fal.run"
    # Unset: fal's published key set, with the older host as a fallback (docs/providers.md §3.3).
    fal_jwks_url: str | None = None
    replicate_api_token: SecretStr | None = None
    replicate_base_url: str = "https://api.replicate.com"
    # Unset: fetched once from Replicate (GET /v1/webhooks/default/secret) when first needed.
    replicate_webhook_secret: SecretStr | None = None
    openrouter_api_key: SecretStr | None = None
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    openrouter_webhook_secret: SecretStr | None = None

    # Storage and the web server
    veo_database_url: str = "sqlite:///veo-bot.db"
    veo_data_dir: Path = Path("veo-data")
    veo_http_host: str = "0.0.0.0"  # noqa: S104 - the server is meant to be reachable
    veo_http_port: int = Field(default=8080, ge=0, le=65535)
    veo_public_url: str | None = None
    veo_webhook_secret: SecretStr | None = None

    # Scheduling
    veo_poll_interval_s: float = Field(default=10.0, gt=0)
    veo_job_timeout_s: float = Field(default=1200.0, gt=0)
    # Days a finished job's files (input images, local renders, kept results) are kept.
    veo_retention_days: float = Field(default=7.0, gt=0)
    # How often a job whose provider calls back is polled all the same (the safety net).
    veo_webhook_poll_interval_s: float = Field(default=180.0, gt=0)

    # Request budgets per provider ("600/min", "10/s", "off"): override the adapter's
    # published limits (bot.budget; README, "Configuration").
    veo_budget_useapi_submit: str | None = None
    veo_budget_useapi_status: str | None = None
    veo_budget_gateway_submit: str | None = None
    veo_budget_gateway_status: str | None = None
    veo_budget_aimlapi_submit: str | None = None
    veo_budget_aimlapi_status: str | None = None
    veo_budget_gemini_submit: str | None = None
    veo_budget_gemini_status: str | None = None
    veo_budget_vertex_submit: str | None = None
    veo_budget_vertex_status: str | None = None
    veo_budget_fal_submit: str | None = None
    veo_budget_fal_status: str | None = None
    veo_budget_replicate_submit: str | None = None
    veo_budget_replicate_status: str | None = None
    veo_budget_openrouter_submit: str | None = None
    veo_budget_openrouter_status: str | None = None

    # Quotas
    veo_quota_user_daily_s: float = Field(default=40.0, ge=0)
    veo_quota_user_concurrent: int = Field(default=2, ge=0)
    veo_quota_workspace_monthly_s: float = Field(default=0.0, ge=0)
    # Money limits in US dollars, 0: none (a person's day, a workspace's month).
    veo_quota_user_daily_usd: Decimal = Field(default=Decimal(0), ge=0, le=money.MAX_LIMIT_USD)
    veo_quota_workspace_monthly_usd: Decimal = Field(
        default=Decimal(0), ge=0, le=money.MAX_LIMIT_USD
    )
    # Money is shown in this currency (ISO 4217), converted at the operator's fixed rate from
    # US dollars; limits stay in US dollars. No rate is ever looked up.
    veo_currency: str = "USD"
    veo_currency_rate: Decimal | None = Field(default=None, gt=0, validate_default=True)
    # Commands one person may send per minute (/veo, Re-roll, Extend, Animate); 0: no limit.
    veo_user_commands_per_minute: int = Field(default=6, ge=0)
    veo_admins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("discord_shard_count", mode="before")
    @classmethod
    def _shard_count(cls, value: object) -> object:
        text = str(value).strip() if value is not None else ""
        if value is None or text == "":
            return None
        if not text.isdigit() or not 1 <= int(text) <= MAX_SHARD_COUNT:
            # The value is no secret, but the rule is what helps.
            raise ValueError(
                f"must be a whole number of shards from 1 to {MAX_SHARD_COUNT}; leave it unset "
                "to use the count Discord recommends"
            )
        return int(text)

    @field_validator("discord_shard_ttl_s")
    @classmethod
    def _ttl_above_renewal(cls, ttl: float, info: ValidationInfo) -> float:
        renew = info.data.get("discord_shard_renew_s")
        if renew is not None and ttl <= renew:
            raise ValueError(
                "must be longer than DISCORD_SHARD_RENEW_S (three times as long is usual), "
                "or a replica loses its shards between two renewals"
            )
        return ttl

    @field_validator("discord_guild_ids", "veo_admins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator(*(f"veo_budget_{n}_{k}" for n in _BUDGETED for k in KINDS))
    @classmethod
    def _readable_rate(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() not in ("", *NO_LIMIT):
            parse_limit(value)  # raises ValueError saying what a rate looks like
        return value

    def budget_overrides(self) -> dict[str, str]:
        """The operator's request budgets, as `VEO_BUDGET_<PROVIDER>_<KIND>` -> value."""
        values = {
            f"VEO_BUDGET_{n.upper()}_{k.upper()}": getattr(self, f"veo_budget_{n}_{k}")
            for n in _BUDGETED
            for k in KINDS
        }
        return {name: value for name, value in values.items() if value is not None}

    @field_validator("veo_webhook_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_WEBHOOK_SECRET_BYTES:
            # Never the value in the message: it is a secret, even when it is a poor one.
            raise ValueError(
                f"must be at least {MIN_WEBHOOK_SECRET_BYTES} bytes long (an empty or short key "
                "lets anyone forge media, result and callback links); leave it unset and the "
                "bot keeps a random one in its database"
            )
        return value

    @field_validator("vertex_project")
    @classmethod
    def _project_id(cls, value: str | None) -> str | None:
        if value is not None and not _VERTEX_PROJECT.fullmatch(value):
            raise ValueError("must be a Google Cloud project id, such as my-project-123")
        return value

    @field_validator("vertex_location")
    @classmethod
    def _location(cls, value: str) -> str:
        if not _VERTEX_LOCATION.fullmatch(value):
            raise ValueError("must be a Vertex AI location, such as us-central1, global, us or eu")
        return value

    @field_validator("vertex_output_gcs_uri")
    @classmethod
    def _gcs_prefix(cls, value: str | None) -> str | None:
        if value is None:
            return None
        bucket, _, prefix = value.removeprefix("gs://").partition("/")
        if not value.startswith("gs://") or not _GCS_BUCKET.fullmatch(bucket):
            raise ValueError("must be a Cloud Storage folder such as gs://my-bucket/veo/")
        return f"gs://{bucket}/{prefix.strip('/') + '/' if prefix.strip('/') else ''}"

    @field_validator("veo_database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            # Never the value in the message: a PostgreSQL URL may hold a password.
            raise ValueError(
                "VEO_DATABASE_URL must look like sqlite:///path/to/file.db (one bot process) "
                "or postgresql://user@host:5432/db (several replicas)"
            )
        return value

    @field_validator("veo_currency_rate")
    @classmethod
    def _currency(cls, rate: Decimal | None, info: ValidationInfo) -> Decimal | None:
        try:
            money.Currency.of(info.data.get("veo_currency"), rate)
        except InvalidRequest as bad:
            raise ValueError(bad.user_message) from None
        return rate

    @property
    def database_path(self) -> Path:
        """The SQLite file VEO_DATABASE_URL names."""
        return Path(self.veo_database_url.removeprefix("sqlite:///"))

    @property
    def quota_limits(self) -> QuotaLimits:
        """The operator's default quota limits."""
        return QuotaLimits(
            user_daily_s=self.veo_quota_user_daily_s,
            user_concurrent=self.veo_quota_user_concurrent,
            workspace_monthly_s=self.veo_quota_workspace_monthly_s,
            user_daily_micro_usd=money.to_micro(self.veo_quota_user_daily_usd),
            workspace_monthly_micro_usd=money.to_micro(self.veo_quota_workspace_monthly_usd),
        )

    @property
    def currency(self) -> money.Currency:
        """The display currency (VEO_CURRENCY at VEO_CURRENCY_RATE); `InvalidRequest` when
        the pair does not make sense."""
        return money.Currency.of(self.veo_currency, self.veo_currency_rate)

    def chat_platforms(self) -> list[str]:
        """The chat adapters whose variables are set."""
        platforms = []
        if self.discord_token is not None:
            platforms.append("discord")
        if self.slack_bot_token is not None and (
            self.slack_signing_secret is not None or self.slack_app_token is not None
        ):
            platforms.append("slack")
        return platforms
