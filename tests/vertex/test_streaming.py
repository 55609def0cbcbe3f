"""Reading a Vertex operation as it streams: the same result however the answer is chunked,
and a broken answer a retryable provider failure."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest

from adapters.providers.vertex._operation import Head, Reader, inline_video, read_head
from bot.errors import ProviderUnavailable


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _read(data: bytes, size: int) -> tuple[Head, bytes | None]:
    reader = Reader(_chunks(data, size))
    head = await read_head(reader)
    if not head.inline:
        return head, None
    return head, b"".join([piece async for piece in inline_video(reader)])


VIDEO = bytes(range(256)) * 3  # base64 with '+' and '/'
ESCAPED = base64.b64encode(VIDEO).decode().replace("/", "\\/").replace("+", "\\u002B")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64, 100_000])
@pytest.mark.parametrize(
    ("answer", "expected", "video"),
    [
        ('{"name": "op"}', Head(), None),
        ('{ "name" : "op", "done" : false, "metadata": {"@type": "x"} }', Head(), None),
        (
            '{"name":"op","done":true,"error":{"code":3,"message":"bad \\"input\\" \\u00e9"}}',
            Head(done=True, error={"code": 3, "message": 'bad "input" é'}),
            None,
        ),
        (
            '{"done":true,"response":{"raiMediaFilteredCount":1,'
            '"raiMediaFilteredReasons":["no [faces]"],"videos":[]}}',
            Head(done=True, filtered=1, filtered_reasons=["no [faces]"]),
            None,
        ),
        (
            '{"done":true,"response":{"videos":[{"gcsUri":"gs://b/o\\/1.mp4","mimeType":"video/mp4"}]}}',
            Head(done=True, gcs_uri="gs://b/o/1.mp4"),
            None,
        ),
        (
            '{"name":"op","done":true,"response":{"@type":"t","raiMediaFilteredCount":0,'
            f'"videos":[{{"mimeType":"video/mp4","bytesBase64Encoded":"{ESCAPED}"}}]}}}}',
            Head(done=True, inline=True),
            VIDEO,
        ),
        (
            # The same string elsewhere (inside metadata) is skipped, not taken for the video.
            f'{{"metadata":{{"bytesBase64Encoded":"{"A" * 70_000}"}},"done":true,'
            '"response":{"videos":[{"bytesBase64Encoded":"AAEC"}]}}',
            Head(done=True, inline=True),
            b"\x00\x01\x02",
        ),
    ],
    ids=["pending", "not done", "error", "filtered", "in storage", "inline", "lookalike"],
)
async def test_an_operation_is_read_the_same_however_it_is_chunked(
    answer: str, expected: Head, video: bytes | None, size: int
) -> None:
    assert await _read(answer.encode(), size) == (expected, video)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ('{"done":true,"response":{"videos":[{"bytesBase64Encoded":"AAE', "never ends"),
        ('{"done":true,"response":{"videos":[{"bytesBase64Encoded":"AA*B"}]}}', "base64"),
        ('{"done":true,"response":{"videos":[{"bytesBase64Encoded":"AAE"}]}}', "cut short"),
        ('{"done":true,"response":{"videos":[{"bytesBase64Encoded":"\\u00e9AAA"}]}}', "ASCII"),
        ('{"done": tru', "literal"),
        ("[" * 40, "deep"),
        ('{"name": "op"', "ends early"),
    ],
)
async def test_a_broken_answer_is_a_retryable_provider_failure(answer: str, words: str) -> None:
    with pytest.raises(ProviderUnavailable) as broken:
        await _read(answer.encode(), 4)
    assert words in broken.value.detail
