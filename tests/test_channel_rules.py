"""The pure channel rules (`bot.channels`): where `/veo` works, how a channel's own rule
layers over the workspace's, and which defaults a request takes."""

from __future__ import annotations

from bot.channels import (
    EVERY_CHANNEL,
    ChannelRule,
    ChannelRules,
    apply,
    aspect_for,
    channel_closed,
)
from bot.models import GenerationRequest

WS = "chat:w1"


def rules(*rows: ChannelRule) -> ChannelRules:
    return ChannelRules.of(WS, rows)


def test_every_channel_is_open_until_an_admin_says_otherwise() -> None:
    assert rules().is_open("c1")
    closed_one = rules(ChannelRule(WS, "c1", open=False))
    assert not closed_one.is_open("c1") and closed_one.is_open("c2")
    listed = rules(ChannelRule(WS, EVERY_CHANNEL, open=False), ChannelRule(WS, "c2", open=True))
    assert not listed.is_open("c1") and listed.is_open("c2")
    assert listed.opened() == ["c2"] and listed.closed() == []


def test_the_refusal_says_where_veo_works() -> None:
    listed = rules(
        ChannelRule(WS, EVERY_CHANNEL, open=False),
        *(ChannelRule(WS, f"c{n:02d}", open=True) for n in range(12)),
    )
    assert channel_closed(listed) == (
        "/veo does not work in this channel. Use it in <#c00>, <#c01>, <#c02>, <#c03>, "
        "<#c04>, <#c05>, <#c06>, <#c07>, <#c08>, <#c09> and 2 more."
    )
    assert channel_closed(rules(ChannelRule(WS, "c1", open=False))) == (
        "/veo does not work in this channel. It works in every other channel here except <#c1>."
    )
    assert channel_closed(rules(ChannelRule(WS, EVERY_CHANNEL, open=False))) == (
        "/veo is switched off in every channel here."
    )


def test_a_channel_rule_layers_over_the_workspace_rule() -> None:
    every = ChannelRule(
        WS, EVERY_CHANNEL, provider="vertex", model="veo-3.1", aspect_ratio="16:9", daily_s=60
    )
    own = ChannelRule(WS, "c1", provider="local", model="local-draft", private=True)
    layered = rules(every, own).for_channel("c1")
    assert (layered.provider, layered.model, layered.aspect_ratio) == (
        "local",
        "local-draft",
        "16:9",
    )
    assert (layered.private, layered.daily_s, layered.channel_id) == (True, 60, "c1")
    assert rules(every, own).for_channel("c2").model == "veo-3.1"


def test_a_request_takes_the_channel_defaults_only_where_the_person_chose_nothing() -> None:
    rule = ChannelRule(
        WS,
        "c1",
        provider="local",
        model="local-draft",
        aspect_ratio="9:16",
        private=True,
        person_generation="dont_allow",
    )
    plain = apply(rule, GenerationRequest(prompt="p"))
    assert (plain.provider, plain.model, plain.private) == ("local", "local-draft", True)
    assert plain.extras == {"person_generation": "dont_allow"}
    assert aspect_for(rule, plain, ("16:9", "9:16")).aspect_ratio == "9:16"
    # A model lacking the channel's aspect keeps its own default.
    assert aspect_for(rule, plain, ("16:9",)).aspect_ratio is None
    chosen = apply(rule, GenerationRequest(prompt="p", model="veo-3.1", aspect_ratio="16:9"))
    assert (chosen.provider, chosen.model) == (None, "veo-3.1")
    assert aspect_for(rule, chosen, ("16:9", "9:16")).aspect_ratio == "16:9"
