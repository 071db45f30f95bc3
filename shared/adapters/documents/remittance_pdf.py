"""Remittance advice as PDF: a Jinja2 HTML template rendered by WeasyPrint.

- The template is ``templates/remittance_advice.html``; its labels, in each language, are data
  in ``remittance_labels.json``. Dates, numbers and currencies are written by Babel in the
  seller's locale (``20 novembre 2026``, ``1 288,00 €``, ``2026年11月20日``).
- Everything from outside (seller names, ids, references) is escaped by Jinja2's autoescaping:
  a name with HTML in it prints as text. WeasyPrint may fetch nothing: the URL fetcher refuses
  every URL, so a document can never make the renderer call out.
- Fonts come from Debian's packages through fontconfig (``scripts/bootstrap.sh``): DejaVu Sans
  for the Latin scripts, Noto Sans CJK JP for Japanese. WeasyPrint needs Pango (libpango).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_currency
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from shared.domain.money import Money
from shared.domain.payout_contents import ContentKind
from shared.domain.remittance import SUPPORTED_LANGUAGES, RemittanceAdvice

HERE = Path(__file__).parent
LABELS_FILE = HERE / "remittance_labels.json"
ADJUSTMENTS = frozenset({ContentKind.PAID_EARLIER, ContentKind.LEFT_FOR_LATER})


class FetchRefused(Exception):
    pass


def refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    raise FetchRefused(f"remittance advice may not load {url!r}")


@cache
def labels() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads(LABELS_FILE.read_text(encoding="utf-8"))
    missing = set(SUPPORTED_LANGUAGES) - set(data)
    if missing:
        raise ValueError(f"remittance labels missing for {sorted(missing)}")
    return data


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class _Line:
    date: str
    label: str
    notes: tuple[str, ...]
    order_line_id: str
    reference: str
    amount: str
    adjustment: bool


def _money(amount: Money, locale: str) -> str:
    return format_currency(amount.to_decimal(), amount.currency, locale=locale)


def _day(at: datetime, advice: RemittanceAdvice, length: str = "medium") -> str:
    return format_date(at.astimezone(ZoneInfo(advice.timezone)).date(), length, locale=advice.locale)


def render_html(advice: RemittanceAdvice) -> str:
    t: Mapping[str, Any] = labels()[advice.language]
    lines = []
    for line in advice.lines:
        notes = []
        if line.owed:
            notes.append(t["owed"])
        if line.reopened_from:
            notes.append(t["reopened"].format(payout=line.reopened_from))
        reference = line.ref or ""
        if line.kind is ContentKind.LEFT_FOR_LATER and line.ref in t["reasons"]:
            reference = t["reasons"][line.ref]
        lines.append(
            _Line(
                date=_day(line.occurred_at, advice, "short"),
                label=t["kinds"][line.kind.value],
                notes=tuple(notes),
                order_line_id=line.order_line_id or "",
                reference=reference,
                amount=_money(line.amount, advice.locale),
                adjustment=line.kind in ADJUSTMENTS,
            )
        )
    left_note = ""
    if advice.left_for_later.is_positive():
        left_note = t["left_note"].format(amount=_money(advice.left_for_later, advice.locale))
        if advice.left_reason is not None:
            left_note = f"{left_note} ({t['reasons'][advice.left_reason.value]})"
    return (
        _environment()
        .get_template("remittance_advice.html")
        .render(
            advice=advice,
            lang=advice.language,
            t=t,
            lines=lines,
            created_on=_day(advice.created_at, advice, "long"),
            paid_on=_day(advice.paid_at, advice, "long"),
            amount=_money(advice.amount, advice.locale),
            total=_money(advice.total(), advice.locale),
            left_note=left_note,
            footer=t["footer"].format(marketplace=advice.marketplace_name),
        )
    )


def render_pdf(advice: RemittanceAdvice) -> bytes:
    """The advice as a PDF document (A4)."""
    from weasyprint import HTML  # imported here: it loads Pango, which only this needs

    document = HTML(string=render_html(advice), url_fetcher=refuse_fetch, base_url=str(HERE))
    pdf: bytes = document.write_pdf()
    return pdf


def pdf_file_name(advice: RemittanceAdvice) -> str:
    return f"remittance-advice-{advice.payout_id}-{advice.language}.pdf"
