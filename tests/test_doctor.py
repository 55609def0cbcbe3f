"""`veo-bot doctor` and the defaults that follow the keys, as an operator runs them: a real
`veo-bot` process against the providers' fakes, one cheap authenticated call each."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes import aimlapi, gateway, gemini, useapi
from tests.fakes._base import FakeProvider
from tests.support import run_cli

OMNI = "gemini-omni-1.1-flash"
RETIRED_SENTENCE = (
    "Veo 3.1 Fast (veo-3.1-fast-generate-preview) was retired by Google on 2026-10-22; "
    "use gemini-omni-1.1-flash instead."
)


@contextlib.asynccontextmanager
async def running(fake: FakeProvider) -> AsyncIterator[FakeProvider]:
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


async def veo_bot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, tmp_path, *args, **env)


def line_of(output: str, provider: str) -> str:
    [line] = [ln for ln in output.splitlines() if f"  {provider}" in ln]
    return line


def dead_url() -> str:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


async def test_every_configured_provider_gets_a_line_and_all_fit_is_exit_0(
    tmp_path: Path,
) -> None:
    async with (
        running(gemini.create()) as google,
        running(gateway.GatewayFake()) as relay,
        running(aimlapi.AimlapiFake()) as aiml,
    ):
        result = await veo_bot(
            tmp_path,
            "doctor",
            GEMINI_API_KEY=gemini.API_KEY,
            GEMINI_BASE_URL=google.base_url,
            GATEWAY_API_KEY=gateway.API_KEY,
            GATEWAY_BASE_URL=relay.base_url,
            AIMLAPI_KEY=aimlapi.API_KEY,
            AIMLAPI_BASE_URL=aiml.base_url,
        )

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert [ln.split(":")[0].split()[1] for ln in out.splitlines()] == [
        "gemini",  # the default, first
        "aimlapi",
        "gateway",
        "local",
    ]
    assert line_of(out, "gemini").startswith(
        f"ok       gemini (default): reachable, key accepted; default model {OMNI} live"
    )
    assert "default model veo-3.1-fast-generate-preview live; at risk: Google shut" in (
        line_of(out, "gateway")
    )
    assert "key accepted; default model veo2 (the provider does not list its models); at risk" in (
        line_of(out, "aimlapi")
    )
    assert line_of(out, "local").startswith("ok       local: reachable, no key needed")
    # One cheap call each, with the key where it belongs.
    [listed] = google.requests
    assert (listed.method, listed.path) == ("GET", "/v1beta/models")
    assert listed.headers["x-goog-api-key"] == gemini.API_KEY
    assert [(r.method, r.path) for r in relay.requests] == [("GET", "/v1/models")]
    assert [(r.method, r.path) for r in aiml.requests] == [("GET", "/v1/billing/balance")]
    for key in (gemini.API_KEY, gateway.API_KEY, aimlapi.API_KEY):
        assert key not in out + result.stderr


async def test_a_wrong_key_is_named_without_its_value_and_fails_the_check(
    tmp_path: Path,
) -> None:
    async with running(gemini.create()) as google:
        result = await veo_bot(
            tmp_path, "doctor", GEMINI_API_KEY="wrong-key-42", GEMINI_BASE_URL=google.base_url
        )

    assert result.returncode == 1
    line = line_of(result.stdout, "gemini")
    assert line.startswith("PROBLEM  gemini (default): reachable, key REFUSED")
    assert "API key not valid" in line and f"default model {OMNI} not checked" in line
    assert "wrong-key-42" not in result.stdout + result.stderr


async def test_a_host_that_is_down_is_not_reachable(tmp_path: Path) -> None:
    result = await veo_bot(
        tmp_path, "doctor", GEMINI_API_KEY=gemini.API_KEY, GEMINI_BASE_URL=dead_url()
    )

    assert result.returncode == 1
    assert line_of(result.stdout, "gemini").startswith(
        "PROBLEM  gemini (default): not reachable; "
        f"default model {OMNI} not checked (not answering (ConnectError"
    )
    assert line_of(result.stdout, "local").startswith("ok ")


async def test_a_default_model_the_provider_no_longer_lists_is_caught(tmp_path: Path) -> None:
    async with running(gemini.create(listed_models=("gemini-2.5-flash",))) as google:
        result = await veo_bot(
            tmp_path, "doctor", GEMINI_API_KEY=gemini.API_KEY, GEMINI_BASE_URL=google.base_url
        )

    assert result.returncode == 1
    assert line_of(result.stdout, "gemini").startswith(
        "PROBLEM  gemini (default): default model gemini-omni-1.1-flash is not offered by the "
        "provider any more; reachable, key accepted"
    )


async def test_a_provider_whose_models_are_all_retired_is_a_problem(tmp_path: Path) -> None:
    async with running(useapi.UseapiFake()) as ltx:
        result = await veo_bot(
            tmp_path, "doctor", USEAPI_TOKEN=useapi.TOKEN, USEAPI_BASE_URL=ltx.base_url
        )

    assert result.returncode == 1
    line = line_of(result.stdout, "useapi")
    assert line.startswith(
        "PROBLEM  useapi: useapi has no model in service any more: Veo 2 (LTX Studio) (veo2) "
        "was retired by useapi.net on 2026-03-09; pick another provider's model; "
        "reachable, key accepted"
    )
    # With every useapi model retired, the default stays on local although its key is set.
    assert line_of(result.stdout, "local").startswith("ok       local (default):")
    assert [(r.method, r.path) for r in ltx.requests] == [("GET", "/v2/account")]


# --- the defaults follow the keys -----------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "default"),
    [
        ({}, "local"),
        ({"GATEWAY_API_KEY": gateway.API_KEY}, "gateway"),
        ({"GATEWAY_API_KEY": gateway.API_KEY, "GEMINI_API_KEY": gemini.API_KEY}, "gemini"),
        (
            {"GEMINI_API_KEY": gemini.API_KEY, "AIMLAPI_KEY": aimlapi.API_KEY},
            "gemini",
        ),
        (
            {"GEMINI_API_KEY": gemini.API_KEY, "VEO_PROVIDER": "local"},  # explicit wins
            "local",
        ),
    ],
)
async def test_the_default_provider_follows_the_keys_present(
    tmp_path: Path, keys: dict[str, str], default: str
) -> None:
    env = dict(keys)
    if "GATEWAY_API_KEY" in env:
        env["GATEWAY_BASE_URL"] = dead_url()
    result = await veo_bot(tmp_path, "doctor", **env)

    defaults = [ln for ln in result.stdout.splitlines() if "(default)" in ln]
    assert len(defaults) == 1 and f"  {default} (default):" in defaults[0], result.stdout


async def test_with_only_a_gemini_key_try_makes_gemini_omni_videos(tmp_path: Path) -> None:
    async with running(gemini.create(job_duration_s=0.1)) as google:
        result = await veo_bot(
            tmp_path,
            "try",
            "a paper lantern rises",
            "--duration",
            "4",
            GEMINI_API_KEY=gemini.API_KEY,
            GEMINI_BASE_URL=google.base_url,
        )
        bodies = [r.json() for r in google.received("POST", "/v1beta/interactions")]

    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip().splitlines()[-1]).suffix == ".mp4"
    assert [body["model"] for body in bodies] == [OMNI]


async def test_a_retired_veo_model_in_the_configuration_stops_the_start(tmp_path: Path) -> None:
    async with running(gemini.create()) as google:
        env = {
            "GEMINI_API_KEY": gemini.API_KEY,
            "GEMINI_BASE_URL": google.base_url,
            "VEO_MODEL": "veo-3.1-fast-generate-preview",
        }
        tried = await veo_bot(tmp_path, "try", "a lantern", **env)
        checked = await veo_bot(tmp_path, "doctor", **env)
        google_saw = [r.path for r in google.requests]

    assert tried.returncode == 4
    assert tried.stderr.strip() == f"veo-bot: VEO_MODEL: {RETIRED_SENTENCE}"
    assert "/v1beta/interactions" not in google_saw  # nothing was sent, nothing charged
    assert checked.returncode == 1
    assert line_of(checked.stdout, "gemini").startswith(
        f"PROBLEM  gemini (default): {RETIRED_SENTENCE.rstrip('.')}"
    )


# --- what `veo-bot models` shows ------------------------------------------------------------


def test_models_lists_live_models_and_all_shows_the_retired_with_their_date(
    tmp_path: Path,
) -> None:
    live = run_cli(tmp_path, "models")
    every = run_cli(tmp_path, "models", "--all")

    assert live.returncode == every.returncode == 0
    assert f"gemini/{OMNI} (default): 3,4,5,6,7,8,9,10 s" in live.stdout
    assert "gemini/veo-" not in live.stdout
    assert "useapi/" not in live.stdout
    assert "aimlapi/veo2 (default): 5,6,7,8 s" in live.stdout
    assert "[at risk: Google retired Veo 2 on 2026-06-30; AIML may stop serving it]" in (
        live.stdout
    )
    retired = [ln for ln in every.stdout.splitlines() if "(retired " in ln]
    assert (
        "gemini/veo-3.1-fast-generate-preview (retired 2026-10-22 by Google): "
        "use gemini-omni-1.1-flash instead"
    ) in retired
    assert f"gemini/veo-2.0-generate-001 (retired 2026-06-30 by Google): use {OMNI} instead" in (
        retired
    )
    assert "useapi/veo3 (retired 2026-03-09 by useapi.net): no replacement here" in retired
    assert set(live.stdout.splitlines()) <= set(every.stdout.splitlines())
