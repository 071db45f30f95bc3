"""Rate sources, behind the ``RateSource`` port of ``shared/usecases/ports.py``.

- ``fixed_table``: rates from a JSON file, for the local stack and the tests (``data/local_rates.json``).
- ``ecb``: the European Central Bank's daily euro reference rates (production; needs egress).

A rail's own quote (Stripe's FX Quotes, Adyen's rates/calculate) is a third kind of source that
the rail adapters will offer (see docs/fx.md).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from shared.adapters.fx_rates.ecb import EcbReferenceRates
from shared.adapters.fx_rates.fixed_table import DEFAULT_TABLE, FixedTableRates
from shared.usecases.ports import RateSource

__all__ = ["fixed_table_source", "reference_rate_source"]


def fixed_table_source(path: str | Path = DEFAULT_TABLE, *, max_age: timedelta) -> RateSource:
    """Rates from a JSON table (local stack, tests). A table never refreshes: ``max_age`` says how
    long the deployment trusts it."""
    return FixedTableRates.from_file(path, max_age=max_age)


def reference_rate_source() -> RateSource:
    """The ECB's daily reference rates (needs egress to www.ecb.europa.eu)."""
    return EcbReferenceRates()
