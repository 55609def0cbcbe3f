"""What the operator asks of the setup: the catalog's models, a line each (`veo-bot models`),
and every configured provider asked one cheap question and judged against the catalog
(`veo-bot doctor`). The CLI builds the providers and prints the lines."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from decimal import Decimal

from bot import i18n, money
from bot.catalog import Catalog, ModelSpec
from bot.errors import InvalidRequest
from bot.i18n import _
from bot.models import ProviderHealth
from bot.ports import VideoProvider

PROBE_TIMEOUT_S = 30.0


def _price(spec: ModelSpec) -> str:
    """The price per second as the catalog has it, with sound when priced apart."""
    silent = money.price_per_s(spec.price_usd_per_s)
    if silent is None:
        return _("price unknown")
    sound = money.price_per_s(spec.price_usd_per_s_audio)
    price = _("{price}/s").format(price=money.fmt_usd(money.to_micro(silent)))
    if sound:
        price = _("{price} ({with_sound} with sound)").format(
            price=price, with_sound=money.fmt_usd(money.to_micro(sound))
        )
    apart = ", ".join(
        f"{res} {money.fmt_usd(money.to_micro(Decimal(str(price))))}"
        for res, price, _sound in spec.resolution_prices
    )
    return f"{price} [{apart}]" if apart else price


def model_lines(catalog: Catalog, providers: Iterable[str], *, retired: bool) -> list[str]:
    """The models these providers offer (`Catalog.offered`), a line each; with `retired`,
    the retired ones too, with their date and what replaces them."""
    lines: list[str] = []
    for spec in catalog.offered(providers, retired=retired):
        if spec.retired:
            instead = catalog.replacement_for(spec)
            advice = (
                _("use {model} instead").format(model=instead)
                if instead
                else _("no replacement here")
            )
            retired_line = (
                _("{model} (retired {on} by {by}): {advice}")
                if spec.retired_by
                else _("{model} (retired {on}): {advice}")
            )
            lines.append(
                retired_line.format(
                    model=f"{spec.provider}/{spec.id}",
                    on=spec.retired_on,
                    by=spec.retired_by,
                    advice=advice,
                )
            )
            continue
        line = (
            _(
                "{model} (default): {durations} s; {aspect_ratios}; {resolutions}; inputs "
                "{inputs}; prompt <= {prompt_chars}; {price}"
            )
            if spec.default
            else _(
                "{model}: {durations} s; {aspect_ratios}; {resolutions}; inputs {inputs}; "
                "prompt <= {prompt_chars}; {price}"
            )
        ).format(
            model=f"{spec.provider}/{spec.id}",
            durations=",".join(str(d) for d in spec.durations),
            aspect_ratios=" ".join(spec.aspect_ratios),
            resolutions="/".join(spec.resolutions),
            inputs="+".join(sorted(i.value for i in spec.inputs)),
            prompt_chars=spec.max_prompt_chars,
            price=_price(spec),
        )
        if spec.at_risk:
            line = _("{line} [at risk: {risk}]").format(line=line, risk=spec.at_risk)
        lines.append(line)
    return lines


async def probe(provider: VideoProvider, timeout_s: float = PROBE_TIMEOUT_S) -> ProviderHealth:
    """The provider's health, or unreachable when it does not answer in time."""
    try:
        async with asyncio.timeout(timeout_s):
            return await provider.health()
    except TimeoutError:
        return ProviderHealth(
            False,
            None,
            detail=_("no answer within {seconds}").format(seconds=i18n.seconds(timeout_s)),
        )


def checkup(
    catalog: Catalog, name: str, health: ProviderHealth, model: str | None, *, default: bool
) -> tuple[bool, str]:
    """Whether one provider can take requests, and the line that says so."""
    problems: list[str] = []
    facts: list[str] = []
    if not health.reachable:
        problems.append(_("not reachable"))
    elif health.key_accepted is None:
        facts.append(_("reachable, no key needed"))
    elif health.key_accepted:
        facts.append(_("reachable, key accepted"))
    else:
        problems.append(_("reachable, key REFUSED"))
    try:
        spec = catalog.get(name, model)
    except InvalidRequest as refused:
        problems.append(refused.user_message.rstrip("."))
    else:
        if not health.reachable or health.key_accepted is False:
            facts.append(_("default model {model} not checked").format(model=spec.id))
        elif health.live_models is None:
            facts.append(
                _("default model {model} (the provider does not list its models)").format(
                    model=spec.id
                )
            )
        elif spec.id in health.live_models:
            facts.append(_("default model {model} live").format(model=spec.id))
        else:
            problems.append(
                _("default model {model} is not offered by the provider any more").format(
                    model=spec.id
                )
            )
        if spec.at_risk:
            facts.append(_("at risk: {risk}").format(risk=spec.at_risk))
    words = "; ".join([*problems, *facts])
    if health.detail:
        words = _("{findings} ({detail})").format(findings=words, detail=health.detail)
    label = _("{provider} (default)").format(provider=name) if default else name
    return not problems, f"{'ok     ' if not problems else 'PROBLEM'}  {label}: {words}"


async def doctor(
    catalog: Catalog,
    providers: Mapping[str, VideoProvider],
    default: str,
    default_model: str | None,
) -> tuple[bool, list[str]]:
    """Every provider probed at once, the default first: whether all can take requests (the
    default one configured too), and a line for each."""
    names = sorted(providers, key=lambda name: (name != default, name))
    answers = await asyncio.gather(*(probe(providers[name]) for name in names))
    healthy = default in providers
    lines = (
        []
        if healthy
        else [
            "PROBLEM  "
            + _("{provider} (default): not configured: its key is not set").format(provider=default)
        ]
    )
    for name, health in zip(names, answers, strict=True):
        model = default_model if name == default else None
        ok, line = checkup(catalog, name, health, model, default=name == default)
        healthy = healthy and ok
        lines.append(line)
    return healthy, lines
