"""Settings follow the configuration contract (README, "Configuration"): names, defaults,
`.env`, secrets kept secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings


def test_defaults_match_the_contract() -> None:
    s = Settings(_env_file=None)
    assert s.veo_provider is None  # the default provider follows the keys present
    assert s.veo_database_url == "sqlite:///veo-bot.db"
    assert (s.veo_http_host, s.veo_http_port) == ("0.0.0.0", 8080)
    assert (s.veo_poll_interval_s, s.veo_job_timeout_s) == (10, 1200)
    assert (s.veo_quota_user_daily_s, s.veo_quota_user_concurrent) == (40, 2)
    assert s.veo_quota_workspace_monthly_s == 0
    assert s.discord_api_base == "https://discord.com/api/v10"
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.gateway_dialect == "images"
    assert s.chat_platforms() == []


def test_environment_variables_and_comma_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "discord-secret-token")
    monkeypatch.setenv("DISCORD_GUILD_IDS", "123, 456")
    monkeypatch.setenv("VEO_ADMINS", "discord:1,slack:U2")
    monkeypatch.setenv("VEO_QUOTA_USER_DAILY_S", "80")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    s = Settings(_env_file=None)
    assert s.discord_guild_ids == [123, 456]
    assert s.veo_admins == ["discord:1", "slack:U2"]
    assert s.veo_quota_user_daily_s == 80
    assert s.chat_platforms() == ["discord", "slack"]
    assert "discord-secret-token" not in repr(s) and "discord-secret-token" not in str(s)


def test_dot_env_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "VEO_PROVIDER=local\nVEO_POLL_INTERVAL_S=2.5\n", encoding="utf-8"
    )
    assert Settings().veo_poll_interval_s == 2.5


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, veo_provider="sora")
    with pytest.raises(ValidationError, match="sqlite:///"):
        Settings(_env_file=None, veo_database_url="mysql://root@db/veo")


def test_the_database_is_sqlite_or_postgresql() -> None:
    for url in ("sqlite:///veo.db", "postgresql://veo@db:5432/veo", "postgres://veo@db/veo"):
        assert Settings(_env_file=None, veo_database_url=url).veo_database_url == url


@pytest.mark.parametrize("secret", ["", "short", "x" * 31, "é" * 15])
def test_a_webhook_secret_shorter_than_32_bytes_is_refused(secret: str) -> None:
    # An empty key signs every media, result and callback link with a key anyone has.
    with pytest.raises(ValidationError, match="at least 32 bytes") as refused:
        Settings(_env_file=None, veo_webhook_secret=secret)
    assert [err["loc"] for err in refused.value.errors()] == [("veo_webhook_secret",)]


def test_an_empty_webhook_secret_line_in_dot_env_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("VEO_WEBHOOK_SECRET=\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings()


def test_a_webhook_secret_of_32_bytes_or_unset_is_taken() -> None:
    assert Settings(_env_file=None).veo_webhook_secret is None
    secret = Settings(_env_file=None, veo_webhook_secret="é" * 16).veo_webhook_secret
    assert secret is not None and secret.get_secret_value() == "é" * 16


def test_request_budgets_are_read_per_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEO_BUDGET_FAL_STATUS", "120/min")
    monkeypatch.setenv("VEO_BUDGET_VERTEX_SUBMIT", "off")
    s = Settings(_env_file=None)
    assert s.budget_overrides() == {
        "VEO_BUDGET_FAL_STATUS": "120/min",
        "VEO_BUDGET_VERTEX_SUBMIT": "off",
    }
    assert s.veo_webhook_poll_interval_s == 180


def test_an_unreadable_request_budget_is_refused_saying_what_a_rate_looks_like() -> None:
    with pytest.raises(ValidationError, match=r"veo_budget_replicate_status[\s\S]*600/min"):
        Settings(_env_file=None, veo_budget_replicate_status="fast")


@pytest.mark.parametrize("count", ["0", "1001", "-2", "four", "2.5"])
def test_a_shard_count_outside_1_to_1000_is_refused_saying_so(
    count: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_SHARD_COUNT", count)
    with pytest.raises(ValidationError, match="whole number of shards from 1 to 1000"):
        Settings(_env_file=None)


def test_a_shard_count_is_read_and_unset_means_discords_recommendation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(_env_file=None).discord_shard_count is None
    monkeypatch.setenv("DISCORD_SHARD_COUNT", " 16 ")
    assert Settings(_env_file=None).discord_shard_count == 16
    monkeypatch.setenv("DISCORD_SHARD_COUNT", "")
    assert Settings(_env_file=None).discord_shard_count is None


def test_a_shard_lease_must_outlive_its_renewal() -> None:
    with pytest.raises(ValidationError, match="longer than DISCORD_SHARD_RENEW_S"):
        Settings(_env_file=None, discord_shard_renew_s=10, discord_shard_ttl_s=10)
    settings = Settings(_env_file=None)
    assert (settings.discord_shard_renew_s, settings.discord_shard_ttl_s) == (15.0, 45.0)
