"""Money: what a video costs, the limits people set in it, and how it is shown.

Amounts are whole micro-dollars (`int`, 1 USD = 1,000,000) everywhere the bot keeps or adds
them: the jobs table, the quota ledger, the limits. Never a float: $0.10 a second for 8 s is
exactly 800,000, and sums over a month stay exact. Figures typed by people (`10.50`) are read
with `Decimal`.

Limits are stored in US dollars. The operator may show another currency (`VEO_CURRENCY`, e.g.
EUR) at a fixed rate from USD they set (`VEO_CURRENCY_RATE`); the bot never looks a rate up.
The display currency is a process-wide setting made once by the composition root
(`set_display`), because refusals are worded inside the stores' transactions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import format_currency, is_currency

from bot import i18n
from bot.errors import InvalidRequest
from bot.i18n import _

MICRO = 1_000_000
# The most anyone, the operator included, can set as a money limit: past this a number is a
# typo or an attack, not a budget.
MAX_LIMIT_USD = 1_000_000


def to_micro(usd: Decimal) -> int:
    """US dollars as whole micro-dollars, rounded half up."""
    return int((usd * MICRO).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def usd_of(micro_usd: int) -> Decimal:
    """Whole micro-dollars as a `Decimal` of US dollars."""
    return Decimal(micro_usd) / MICRO


def parse_usd(name: str, value: object) -> int:
    """A money limit as typed (`10`, `"2.50"`, a float from a slash command), in micro-dollars;
    NaN, infinity, negative numbers and sums past `MAX_LIMIT_USD` are refused in plain words."""
    try:
        amount = Decimal(str(value).strip().lstrip("$"))
    except InvalidOperation:
        raise InvalidRequest(
            _("{name} takes an amount in US dollars, like 10.50, not {typed}.").format(
                name=name, typed=repr(value)
            )
        ) from None
    if not amount.is_finite() or not 0 <= amount <= MAX_LIMIT_USD:
        raise InvalidRequest(
            _("{name} must be an amount from 0 to {most} US dollars, not {typed}.").format(
                name=name, most=i18n.whole(MAX_LIMIT_USD), typed=value
            )
        )
    return to_micro(amount)


def price_per_s(value: float | None) -> Decimal | None:
    """A catalog price (US dollars a second, as written in the table) as an exact `Decimal`."""
    return None if value is None else Decimal(str(value))


@dataclass(frozen=True, slots=True)
class Currency:
    """How money is shown: an ISO 4217 code and the fixed rate from US dollars."""

    code: str = "USD"
    rate: Decimal = Decimal(1)
    locale: str = "en_US"

    @classmethod
    def of(cls, code: str | None, rate: object = None, locale: str = "en_US") -> Currency:
        """The currency the operator named, checked: a real ISO code; a rate that is a
        positive, finite number (required for anything but USD)."""
        code = (code or "USD").strip().upper()
        if not is_currency(code):
            raise InvalidRequest(
                _("VEO_CURRENCY {code} is not an ISO 4217 currency code.").format(code=repr(code))
            )
        if code == "USD" and rate in (None, ""):
            return cls("USD", Decimal(1), locale)
        if rate in (None, ""):
            raise InvalidRequest(
                _(
                    "VEO_CURRENCY is {code}: set VEO_CURRENCY_RATE to how many {code} one US "
                    "dollar buys (the bot never looks rates up)."
                ).format(code=code)
            )
        try:
            value = Decimal(str(rate).strip())
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite() or value <= 0:
            raise InvalidRequest(
                _("VEO_CURRENCY_RATE must be a positive number, not {typed}.").format(
                    typed=repr(rate)
                )
            )
        return cls(code, value, locale)

    def format(self, micro_usd: int) -> str:
        """An amount kept in micro-dollars, in this currency ("$1.20", "€1.10"), written for the
        reader's locale ("1,20 $" in German); English readers get the operator's `locale`."""
        locale = self.locale if i18n.current() == i18n.DEFAULT else i18n.babel_locale()
        return format_currency(usd_of(micro_usd) * self.rate, self.code, locale=locale)


_DISPLAY: dict[str, Currency] = {"currency": Currency()}


def display() -> Currency:
    """The currency money is shown in, as the operator set it."""
    return _DISPLAY["currency"]


def set_display(currency: Currency) -> None:
    """Show money in `currency` from now on (the composition root, from the settings)."""
    _DISPLAY["currency"] = currency


@contextmanager
def shown_in(currency: Currency) -> Iterator[Currency]:
    """Show money in `currency` inside the block only (tests, one CLI run)."""
    before = display()
    set_display(currency)
    try:
        yield currency
    finally:
        set_display(before)


def fmt(micro_usd: int | None) -> str:
    """An amount in the display currency; an unknown one says so."""
    return _("price unknown") if micro_usd is None else display().format(micro_usd)


def fmt_usd(micro_usd: int) -> str:
    """An amount in US dollars, whatever the display currency: for limits, which are set and
    stored in US dollars."""
    return Currency().format(micro_usd)
