"""Configuring Vertex: a host per location, the location in the path, key files that cannot
work, names that go into URLs, and `veo-bot try` end to end through the fake."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from adapters.providers.vertex import base_url_for
from bot.cli import main
from bot.models import GenerationRequest
from tests.fakes import vertex
from tests.fakes.vertex import PROJECT, key_file_info
from tests.support import png_bytes, run_cli
from tests.vertex.support import FAST, SUBMIT, BotFactory, image_bytes


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("us-central1", "https://us-central1-aiplatform.googleapis.com/"),
        ("europe-west4", "https://europe-west4-aiplatform.googleapis.com/"),
        ("global", "https://aiplatform.googleapis.com/"),
        ("us", "https://aiplatform.us.rep.googleapis.com/"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com/"),
    ],
)
def test_each_location_has_its_own_host(location: str, host: str) -> None:
    assert base_url_for(location) == host


async def test_the_location_goes_in_the_path(make_bot: BotFactory) -> None:
    bot = await make_bot(location="global")
    job = await bot.run(GenerationRequest(prompt="a compass"))

    bot.assert_delivered_once(job)
    [submit] = bot.fake.received("POST", SUBMIT)
    assert submit.path.startswith(f"/v1/projects/{PROJECT}/locations/global/publishers/google/")


def _pem() -> str:
    return key_file_info("https://oauth2.googleapis.com/token")["private_key"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "there is no file at"),
        ("not json at all", "is not a JSON key file"),
        (
            json.dumps({"type": "authorized_user", "client_id": "x", "refresh_token": "1//s"}),
            'is a "authorized_user" key',
        ),
        (
            json.dumps(
                {**key_file_info("https://oauth2.googleapis.com/token"), "client_email": ""}
            ),
            "has no client_email",
        ),
        (
            json.dumps(key_file_info("http://tokens.example/token")),
            "token_uri that is not https",
        ),
        (
            json.dumps(
                {
                    **key_file_info("https://oauth2.googleapis.com/token"),
                    "private_key": _pem().replace("A", "B", 40),
                }
            ),
            "is not a PEM-encoded RSA key",
        ),
    ],
    ids=["missing", "not json", "user credentials", "no email", "plain http", "damaged key"],
)
def test_a_key_file_that_cannot_work_stops_try_with_the_variable_named(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    words: str,
) -> None:
    key = tmp_path / "key.json"
    if content is not None:
        key.write_text(content, encoding="utf-8")
    monkeypatch.setenv("VERTEX_PROJECT", PROJECT)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    monkeypatch.setenv("VEO_DATABASE_URL", f"sqlite:///{tmp_path / 'veo.db'}")

    assert main(["try", "a fox", "--provider", "vertex"]) == 4
    err = capsys.readouterr().err
    assert "GOOGLE_APPLICATION_CREDENTIALS" in err and words in err
    assert len(err.strip().splitlines()) == 1
    assert "PRIVATE KEY" not in err and "1//s" not in err and _pem()[40:80] not in err


def test_vertex_without_a_key_file_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VERTEX_PROJECT", PROJECT)
    monkeypatch.setenv("VEO_DATABASE_URL", f"sqlite:///{tmp_path / 'veo.db'}")
    assert main(["try", "a fox", "--provider", "vertex"]) == 4
    err = capsys.readouterr().err
    assert "GOOGLE_APPLICATION_CREDENTIALS" in err and "key file" in err


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VERTEX_LOCATION", "us-central1.evil.example/x"),
        ("VERTEX_PROJECT", "my project/../x"),
        ("VERTEX_OUTPUT_GCS_URI", "s3://bucket/veo"),
    ],
)
def test_vertex_names_that_go_into_urls_are_checked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["jobs"]) == 4
    assert variable in capsys.readouterr().err


@pytest.mark.parametrize("frames", [False, True], ids=["text", "first and last frame"])
async def test_the_cli_makes_a_video_through_the_fake(tmp_path: Path, frames: bool) -> None:
    fake = vertex.create(job_duration_s=0.1)
    await fake.start()
    key = fake.key_file(tmp_path)
    images: list[str] = []
    if frames:
        (tmp_path / "first.png").write_bytes(png_bytes(color=(200, 120, 40)))
        (tmp_path / "last.jpg").write_bytes(image_bytes("JPEG", (20, 40, 160)))
        images = ["--image", "first.png", "--end-image", "last.jpg"]
    try:
        result = await asyncio.to_thread(
            run_cli,
            tmp_path,
            "try",
            "a paper lantern rises",
            "--provider",
            "vertex",
            "--model",
            FAST,
            *images,
            VERTEX_PROJECT=PROJECT,
            VERTEX_BASE_URL=fake.base_url,
            GOOGLE_APPLICATION_CREDENTIALS=str(key),
        )
    finally:
        await fake.close()
    assert result.returncode == 0, result.stderr
    path = tmp_path / result.stdout.strip().splitlines()[-1]
    assert path.suffix == ".mp4"
    assert await asyncio.to_thread(path.read_bytes) == fake.video
    [submit] = fake.received("POST", SUBMIT)
    instance = submit.json()["instances"][0]
    assert ("image" in instance, "lastFrame" in instance) == (frames, frames)
    [grant] = fake.grants
    output = result.stdout + result.stderr
    assert str(grant.issued) not in output and "PRIVATE KEY" not in output
