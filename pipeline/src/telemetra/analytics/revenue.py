"""Money in US dollars: subs at tier list price, gifts × count, bits at a cent each, donations converted."""

from __future__ import annotations

import json
from pathlib import Path

TIER_PRICE_USD = {"1000": 4.99, "2000": 9.99, "3000": 24.99, "prime": 4.99}
USD_PER_BIT = 0.01
_RATES_FILE = Path(__file__).with_name("data") / "currency_rates.json"
USD_PER_UNIT: dict[str, float] = {
    code: rate for code, rate in json.loads(_RATES_FILE.read_text()).items() if not code.startswith("_")
}


def revenue_usd(
    kind: str, amount: float, currency: str, tier: str | None, count: int, months: int = 1
) -> float | None:
    """Dollar value of one transaction; ``None`` when its currency has no known rate. Subs are valued at their
    tier's price for every month paid at once, gifts for every sub and month."""
    if kind in ("sub", "resub"):
        return TIER_PRICE_USD[tier or "1000"] * months
    if kind == "gift":
        return TIER_PRICE_USD[tier or "1000"] * count * months
    if kind == "bits":
        return amount * USD_PER_BIT
    rate = USD_PER_UNIT.get(currency)
    return None if rate is None else amount * rate
