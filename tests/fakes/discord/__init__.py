"""A fake Discord: one aiohttp server on 127.0.0.1 that speaks the gateway (a websocket with
HELLO, heartbeats, IDENTIFY -> READY + GUILD_CREATE, RESUME with replay, RECONNECT), the REST
API v10 that discord.py calls, and a CDN with signed, expiring attachment URLs.

It enforces what the real one enforces and discord.py depends on: JSON answers
carry exactly `Content-Type: application/json`; an interaction is acknowledged once (a second
callback: 400, code 40060) and within `ack_deadline_s` (later: 404, code 10062); the
interaction token works for `token_ttl_s` (15 minutes; later: 401, code 50027); an attachment
above `attachment_size_limit` is refused (413, code 40005); messages, embeds, components,
modals and autocomplete answers are checked against Discord's limits (400, code 50035); a
thread on a message can be started once (400, code 160004) and takes the message's id.
Everything refused that way is also written to `violations`, which a test expects empty.

It plays the people too: `slash`, `autocomplete`, `message_command`, `click` and `submit_modal`
send INTERACTION_CREATE over the gateway, built from the commands the bot registered, and
return an `Interaction` that collects the bot's answers. What the bot posted is kept per
channel and thread (`messages_in`), with attachments (bytes included), components and the
links Discord would fetch to preview (`previewed_links`). Every REST call (`rest`) and gateway
frame (`frames`) is recorded.

Direct messages: `POST /users/@me/channels` opens (or finds) the DM channel with a user, where
the bot posts like anywhere else, unless the user takes no DMs (`User.dms_open`: 403, code
50007). The world changes under the bot: `remove_bot(channel)` takes its access to a channel and
its threads (403, code 50001), `delete_channel(channel)` deletes a channel or thread (404, code
10003), `lock_thread(thread)` archives and locks one (403, code 50083). Those refusals follow
from what people did, not from the bot's mistakes, so they are not `violations`.

Shards: `GET /gateway/bot` recommends `recommended_shards` (with `max_concurrency`), and
answers only once `gateway_bot_gate` requests have arrived (replicas starting together); each
IDENTIFY's `[shard_id, shard_count]` is kept in `identified`, `live_shards()` says which shards
have a live connection, and `wait_shards([...])` waits for exactly those.

Faults: `inject(Fault(...))` (tests.fakes._base; JSON bodies are sent with Discord's exact
content type), `rate_limit(...)` (429 with `Via` and `retry_after`, which discord.py retries),
`server_error(...)`, `hold(...)` (do the work, answer only when released: a bot that dies while
waiting), `reconnect()` (op 7; the bot must RESUME), `advance(seconds)` (tokens and signed URLs
age), and `ack_deadline_s` to make the acknowledgement check as strict as a test needs.

Where each part lives: `_model` (Discord's objects and wire constants), `_world` (state, clock,
channels, people, uploads), `_gateway`, `_people` (the interactions people send), `_rest`,
`_interactions` (callbacks and the interaction webhook), `_cdn`, and `_server` (`FakeDiscord`,
one server for them all).
"""

from tests.fakes.discord._model import (
    ALL_PERMISSIONS,
    API_PREFIX,
    APPLICATION_COMMAND,
    ATTACH_FILES,
    EPHEMERAL,
    LOADING,
    MANAGE_GUILD,
    MEMBER_PERMISSIONS,
    SUPPRESS_EMBEDS,
    TOKEN,
    Attachment,
    Frame,
    Hold,
    Interaction,
    Message,
    RestCall,
    User,
)
from tests.fakes.discord._server import FakeDiscord

__all__ = [
    "ALL_PERMISSIONS",
    "API_PREFIX",
    "APPLICATION_COMMAND",
    "ATTACH_FILES",
    "EPHEMERAL",
    "LOADING",
    "MANAGE_GUILD",
    "MEMBER_PERMISSIONS",
    "SUPPRESS_EMBEDS",
    "TOKEN",
    "Attachment",
    "FakeDiscord",
    "Frame",
    "Hold",
    "Interaction",
    "Message",
    "RestCall",
    "User",
]
