"""Faithful local fakes of the provider APIs: real aiohttp servers on 127.0.0.1.

Each family lives in its own module (`useapi`, `gateway`, `aimlapi`, `gemini`, `fal`,
`replicate`) with a `create(**options)` function; `python -m tests.fakes <family> --port N`
runs one standalone. The chat platforms are packages split by part: `discord` (gateway,
REST, interactions, CDN) and `slack` (Web API, files, Socket Mode, what Slack sends the bot).
"""
