"""A fake Slack: one aiohttp server on 127.0.0.1 with the Web API methods veo-bot calls (checked
the way Slack checks them: bearer token, required arguments, Slack's error codes with HTTP 200),
upload v2's upload URL, `url_private` files behind the bot token (the HTML login page without
it; a 302 to another address when a file is `moved_to` one), remote files (`is_external`,
their `url_private` on whatever host their app chose), response_url, and a Socket Mode
websocket. `ForeignHost` is a server outside Slack that such URLs can point to: it records
every request it gets, with its headers.

It also plays Slack's part towards the bot: it signs and sends slash commands, interactions and
events to the bot's `/slack/events`, or pushes them as Socket Mode envelopes and collects the
acks. What the bot posted is kept per channel and thread (messages, every update, files with
their bytes, the unfurl flags and the links Slack would crawl to unfurl them); every Web API
call is recorded (method + params).

The world changes under the bot: `remove_bot(channel)` (posting, editing or reading there
answers `not_in_channel`), `archive(channel)` (posting and editing: `is_archived`). The bot can
still reach a person through `conversations.open` (a DM channel, `D…`), where upload v2 and
`chat.postMessage` work as in any channel.

Faults: `inject(Fault(...))` (tests.fakes._base) or `ratelimit(method)`, `fail(method, status)`,
`fail_upload()`; `hold(method)` does the work of one call but answers only when released, like
a bot that crashed before hearing back.

Where each part lives: `_model` (Slack's objects, ids and credentials), `_world` (state, what the
bot did, what people share, faults), `_web_api`, `_files` (upload v2, `url_private`,
`ForeignHost`), `_socket_mode`, `_requests` (what Slack sends the bot), and `_server`
(`FakeSlack`, one server for them all).
"""

from tests.fakes.slack._files import ForeignHost
from tests.fakes.slack._model import (
    APP_ID,
    APP_TOKEN,
    BOT_ID,
    BOT_TOKEN,
    BOT_USER_ID,
    SIGNING_SECRET,
    TEAM_ID,
    ApiCall,
    BotReply,
    Hold,
    Message,
    Refusal,
    SlackFile,
)
from tests.fakes.slack._requests import (
    checkbox_value,
    files_value,
    number_value,
    select_value,
    text_value,
)
from tests.fakes.slack._server import FakeSlack

__all__ = [
    "APP_ID",
    "APP_TOKEN",
    "BOT_ID",
    "BOT_TOKEN",
    "BOT_USER_ID",
    "SIGNING_SECRET",
    "TEAM_ID",
    "ApiCall",
    "BotReply",
    "FakeSlack",
    "ForeignHost",
    "Hold",
    "Message",
    "Refusal",
    "SlackFile",
    "checkbox_value",
    "files_value",
    "number_value",
    "select_value",
    "text_value",
]
