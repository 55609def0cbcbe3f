"""What the operator asks of the setup: the catalog's models, a line each (`veo-bot models`),
and every configured provider asked one cheap question and judged against the catalog
(`veo-bot doctor`). The CLI builds the providers and prints the lines."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from decimal import Decimal

from bot import money
from bot.catalog import Catalog, ModelSpec
from bot.errors import InvalidRequest
from bot.models import ProviderHealth
from bot.ports import VideoProvider

PROBE_TIMEOUT_S = 30.0


def _price(spec: ModelSpec) -> str:
    """The price per second as the catalog has it, with sound when priced apart."""
    silent = money.price_per_s(spec.price_usd_per_s)
    if silent is None:
        return "price unknown"
    sound = money.price_per_s(spec.price_usd_per_s_audio)
    with_sound = f" ({money.fmt_usd(money.to_micro(sound))} with sound)" if sound else ""
    apart = ", ".join(
        f"{res} {money.fmt_usd(money.to_micro(Decimal(str(price))))}"
        for res, price, _ in spec.resolution_prices
    )
    others = f" [{apart}]" if apart else ""
    return f"{money.fmt_usd(money.to_micro(silent))}/s{with_sound}{others}"


def model_lines(catalog: Catalog, providers: Iterable[str], *, retired: bool) -> list[str]:
    """The models these providers offer (`Catalog.offered`), a line each; with `retired`,
    the retired ones too, with their date and what replaces them."""
    lines: list[str] = []
    for spec in catalog.offered(providers, retired=retired):
        if spec.retired:
            instead = catalog.replacement_for(spec)
            lines.append(
                f"{spec.provider}/{spec.id} (retired {spec.retired_on}"
                f"{f' by {spec.retired_by}' if spec.retired_by else ''}): "
                f"{f'use {instead} instead' if instead else 'no replacement here'}"
            )
            continue
        inputs = "+".join(sorted(i.value for i in spec.inputs))
        durations = ",".join(str(d) for d in spec.durations)
        lines.append(
            f"{spec.provider}/{spec.id}{' (default)' if spec.default else ''}: "
            f"{durations} s; {' '.join(spec.aspect_ratios)}; {'/'.join(spec.resolutions)}; "
            f"inputs {inputs}; prompt <= {spec.max_prompt_chars}; {_price(spec)}"
            f"{f' [at risk: {spec.at_risk}]' if spec.at_risk else ''}"
        )
    return lines


async def probe(provider: VideoProvider, timeout_s: float = PROBE_TIMEOUT_S) -> ProviderHealth:
    """The provider's health, or unreachable when it does not answer in time."""
    try:
        async with asyncio.timeout(timeout_s):
            return await provider.health()
    except TimeoutError:
        return ProviderHealth(False, None, detail=f"no answer within {timeout_s:g} s")


def checkup(
    catalog: Catalog, name: str, health: ProviderHealth, model: str | None, *, default: bool
) -> tuple[bool, str]:
    """Whether one provider can take requests, and the line that says so."""
    problems: list[str] = []
    facts: list[str] = []
    if not health.reachable:
        problems.append("not reachable")
    elif health.key_accepted is None:
        facts.append("reachable, no key needed")
    elif health.key_accepted:
        facts.append("reachable, key accepted")
    else:
        problems.append("reachable, key REFUSED")
    try:
        spec = catalog.get(name, model)
    except InvalidRequest as refused:
        problems.append(refused.user_message.rstrip("."))
    else:
        if not health.reachable or health.key_accepted is False:
            facts.append(f"default model {spec.id} not checked")
        elif health.live_models is None:
            facts.append(f"default model {spec.id} (the provider does not list its models)")
        elif spec.id in health.live_models:
            facts.append(f"default model {spec.id} live")
        else:
            problems.append(f"default model {spec.id} is not offered by the provider any more")
        if spec.at_risk:
            facts.append(f"at risk: {spec.at_risk}")
    words = "; ".join([*problems, *facts])
    detail = f" ({health.detail})" if health.detail else ""
    label = f"{name} (default)" if default else name
    return not problems, f"{'ok     ' if not problems else 'PROBLEM'}  {label}: {words}{detail}"


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
    lines = [] if healthy else [f"PROBLEM  {default} (default): not configured: its key is not set"]
    for name, health in zip(names, answers, strict=True):
        model = default_model if name == default else None
        ok, line = checkup(catalog, name, health, model, default=name == default)
        healthy = healthy and ok
        lines.append(line)
    return healthy, lines
