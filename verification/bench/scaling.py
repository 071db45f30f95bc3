"""How time and operations grow between sizes: the log-log slope (1.0 is linear)."""

from __future__ import annotations

import itertools
import math
from typing import Any

JSON = dict[str, Any]


def scaling(runs: list[JSON]) -> list[JSON]:
    def slope(a: float, b: float, na: int, nb: int) -> float | None:
        return round(math.log(b / a) / math.log(nb / na), 3) if a > 0 and b > 0 and nb != na else None

    ordered = sorted((r for r in runs if r["settled"]), key=lambda r: r["sellers"])
    out = []
    for a, b in itertools.pairwise(ordered):
        na, nb = a["sellers"], b["sellers"]

        def ops(r: JSON) -> float:
            return float(r["ops"]["firestore_reads"] + r["ops"]["firestore_writes"])

        out.append(
            {
                "from": na,
                "to": nb,
                "time_exponent": slope(a["seconds"], b["seconds"], na, nb),
                "ops_exponent": slope(ops(a), ops(b), na, nb),
                "reads_exponent": slope(a["ops"]["firestore_reads"], b["ops"]["firestore_reads"], na, nb),
                "writes_exponent": slope(a["ops"]["firestore_writes"], b["ops"]["firestore_writes"], na, nb),
            }
        )
    return out
