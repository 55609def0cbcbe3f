"""Typed configuration: the environment-variable contract of DESIGN.md, also read from `.env`.

Built once by the composition root (`bot.app` / `bot.cli`) and passed in; never at import time.
Field names are the variable names, so the table in the README maps one to one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.models import QuotaLimits

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
# The HMAC key of every signed link and callback; shorter keys can be guessed or are empty.
MIN_WEBHOOK_SECRET_BYTES = 32


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Discord
    discord_token: SecretStr | None = None
    discord_api_base: str = "https://discord.com/api/v10"
    discord_gateway_url: str | None = None
    discord_guild_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)

    # Slack
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    # Providers
    veo_provider: ProviderName = "local"
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

    # Quotas
    veo_quota_user_daily_s: float = Field(default=40.0, ge=0)
    veo_quota_user_concurrent: int = Field(default=2, ge=0)
    veo_quota_workspace_monthly_s: float = Field(default=0.0, ge=0)
    veo_admins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("discord_guild_ids", "veo_admins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split_commas(value)

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

    @field_validator("veo_database_url")
    @classmethod
    def _sqlite_only(cls, value: str) -> str:
        if not value.startswith("sqlite:///"):
            raise ValueError("VEO_DATABASE_URL must look like sqlite:///path/to/file.db")
        return value

    @property
    def database_path(self) -> Path:
        return Path(self.veo_database_url.removeprefix("sqlite:///"))

    @property
    def quota_limits(self) -> QuotaLimits:
        return QuotaLimits(
            user_daily_s=self.veo_quota_user_daily_s,
            user_concurrent=self.veo_quota_user_concurrent,
            workspace_monthly_s=self.veo_quota_workspace_monthly_s,
        )

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
