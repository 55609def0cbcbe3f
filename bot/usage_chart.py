"""The usage chart: money spent per day of a month, stacked per person, as a PNG.

Drawn with matplotlib's Agg backend (no display needed), imported only when a chart is asked
for: the bot starts without loading it, and a process that never draws never pays for it.
Rendering takes a fraction of a second of CPU; the async callers run it in a thread.
"""

from __future__ import annotations

import asyncio
import calendar
import io
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot import i18n, money
from bot.errors import InvalidRequest
from bot.i18n import _
from bot.models import DailySpend
from bot.money import MICRO, Currency
from bot.ports import Store

# 10 x 5 inches at 100 dpi: 1000 x 500 pixels, readable in a Discord or Slack preview.
WIDTH_IN, HEIGHT_IN, DPI = 10, 5, 100
# People drawn apart; the rest share one colour as "others".
MAX_PEOPLE = 8
# Fonts that draw Japanese, the first found used.
_CJK_FAMILIES = (
    "Noto Sans CJK JP",
    "Noto Sans JP",
    "IPAexGothic",
    "IPAGothic",
    "TakaoGothic",
    "Hiragino Sans",
    "Yu Gothic",
    "MS Gothic",
)


def _label(user_key: str) -> str:
    """A person as the chart names them: the platform's user id (`platform:workspace:user`)."""
    platform, _, rest = user_key.partition(":")
    return f"{platform}:{rest.rpartition(':')[2]}" if rest else user_key


def render(month: str, spends: Sequence[DailySpend], currency: Currency) -> bytes:
    """The chart of `month` ("2026-12") as PNG bytes: a bar per UTC day, stacked per person
    (the `MAX_PEOPLE` who spent most, then everyone else together), in `currency`."""
    import matplotlib  # noqa: PLC0415 - lazily: only a chart needs it

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # noqa: PLC0415

    year, number = (int(part) for part in month.split("-"))
    days = calendar.monthrange(year, number)[1]
    totals: dict[str, int] = defaultdict(int)
    for spend in spends:
        totals[spend.user_key] += spend.micro_usd
    ranked = sorted(totals, key=lambda key: (-totals[key], key))
    shown = ranked[:MAX_PEOPLE]
    series: dict[str, list[float]] = {key: [0.0] * days for key in shown}
    others = [0.0] * days
    rate = float(currency.rate)
    for spend in spends:
        index = int(spend.day[-2:]) - 1
        amount = spend.micro_usd / MICRO * rate  # drawn, never added up again
        series.get(spend.user_key, others)[index] += amount

    with i18n.using(_drawable_locale()):
        figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
        return _draw(figure, month, days, series, others, currency)


def _drawable_locale() -> str:
    """The reader's language, unless its script needs a font this machine lacks (Japanese
    without a CJK font would be drawn as empty boxes): then English."""
    if i18n.current() != "ja":
        return i18n.current()
    from matplotlib import font_manager  # noqa: PLC0415 - lazily, as matplotlib

    available = {font.name for font in font_manager.fontManager.ttflist}
    return "ja" if available & set(_CJK_FAMILIES) else i18n.DEFAULT


def _draw(  # noqa: PLR0917 - the chart's parts, computed by `render`
    figure: Any,
    month: str,
    days: int,
    series: dict[str, list[float]],
    others: list[float],
    currency: Currency,
) -> bytes:
    shown = list(series)
    # Japanese words in a font that has them; everything else in matplotlib's default.
    font = {"fontfamily": [*_CJK_FAMILIES, "sans-serif"]} if i18n.current() == "ja" else {}
    axes = figure.add_subplot()
    x = list(range(1, days + 1))
    bottom = [0.0] * days
    for key in shown:
        axes.bar(x, series[key], bottom=bottom, label=_label(key))
        bottom = [b + v for b, v in zip(bottom, series[key], strict=True)]
    if any(others):
        axes.bar(x, others, bottom=bottom, label=_("others"), color="lightgray")
    axes.set_title(_("Spend per day, {month}").format(month=month), usetex=False, **font)
    axes.set_xlabel(_("day of the month (UTC)"), **font)
    axes.set_ylabel(_("spent ({currency})").format(currency=currency.code), **font)
    axes.set_xlim(0.5, days + 0.5)
    axes.set_xticks([day for day in x if day == 1 or day % 5 == 0])
    if shown:
        legend = {"prop": {"family": font["fontfamily"], "size": "small"}} if font else {}
        axes.legend(loc="upper left", fontsize="small", **legend)
    else:
        axes.text(
            0.5, 0.5, _("nothing spent this month"), ha="center", transform=axes.transAxes, **font
        )
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class UsageChart:
    """A month's spend per day and per person, drawn as a PNG."""

    month: str
    png: bytes
    people: int  # how many people spent anything

    @property
    def filename(self) -> str:
        """The name the file is posted under."""
        return f"veo-usage-{self.month}.png"


async def draw(store: Store, month: str, workspace_key: str | None = None) -> UsageChart:
    """The chart of `month` ("2026-12"), in one workspace or in all, in the display currency;
    drawn in a thread, so that the event loop keeps serving meanwhile."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise InvalidRequest(
            _("A month looks like 2026-12, not {typed}.").format(typed=repr(month))
        )
    spends = await store.daily_spend(month, workspace_key)
    png = await asyncio.to_thread(render, month, spends, money.display())
    return UsageChart(month, png, len({spend.user_key for spend in spends}))
