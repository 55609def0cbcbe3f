"""How a fake provider reads a file input given as a URL: it fetches it (as the real service
does, so a signed link to the bot's server is really followed) or decodes a `data:` URI."""

from __future__ import annotations

import base64
import binascii

import aiohttp

from bot.media import sniff_image_mime


async def read_url(value: object) -> bytes | str:
    """The bytes behind a URL or data URI, or what is wrong with it, in words."""
    if not isinstance(value, str):
        return "must be a URL string"
    if value.startswith("data:"):
        header, comma, payload = value.partition(",")
        if not comma or not header.endswith(";base64"):
            return "is not a base64 data URI"
        try:
            return base64.b64decode(payload, validate=True)
        except binascii.Error:
            return "is not valid base64"
    if not value.startswith(("http://", "https://")):
        return "must be an http(s) URL or a data URI"
    try:
        async with aiohttp.ClientSession() as session, session.get(value) as response:
            if response.status != 200:
                return f"could not be fetched (HTTP {response.status})"
            return await response.read()
    except aiohttp.ClientError as exc:
        return f"could not be fetched ({type(exc).__name__})"


async def read_image(value: object) -> bytes | str:
    data = await read_url(value)
    if isinstance(data, bytes) and sniff_image_mime(data) is None:
        return "is not a PNG, JPEG or WebP image"
    return data


async def read_video(value: object) -> bytes | str:
    data = await read_url(value)
    if isinstance(data, bytes) and data[4:8] != b"ftyp":
        return "is not an MP4 video"
    return data
