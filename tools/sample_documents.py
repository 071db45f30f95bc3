"""Sample documents, offline: remittance advice PDFs in every language and a DAC7 file.

    .venv/bin/python -m tools.sample_documents out/               # all six languages + DAC7 XML
    .venv/bin/python -m tools.sample_documents out/ --languages ja --png

The sample is a real history played through the domain (order lines, the ledger, payouts): a
French seller sells a phone for €300 (commission 10%) and a case for €20, is paid €288, refunds
half the phone after that payout (so it owes €135), sells a cable for €200 and asks for €40 on
demand. The €40 payout's contents are the refund and the commission given back on it (a debt
carried from the negative balance), the cable's sale and commission, and €5 left for later.
``--png`` also writes page 1 of each PDF as a PNG (``pdftoppm``, from poppler-utils).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr

from shared.adapters.documents.dpi_xml import build_dpi_xml, dpi_file_name
from shared.adapters.documents.remittance_pdf import pdf_file_name, render_pdf
from shared.domain.bank_accounts import IbanAccount, validate_bank_account
from shared.domain.countries import load_country_rules
from shared.domain.dac7 import (
    Address,
    BirthPlace,
    Dac7Report,
    PlatformOperator,
    SellerIdentity,
    SellerKind,
    build_report,
    sales_from_journal,
)
from shared.domain.ledger import DatedEntry, JournalEntry
from shared.domain.money import Money
from shared.domain.order_events import OrderLine, apply_order_event, parse_order_event
from shared.domain.payout_contents import PayoutContents, SettlementState, available_movements, replay
from shared.domain.payouts import Payout, PayoutStatus, new_payout, transition
from shared.domain.remittance import SUPPORTED_LANGUAGES, RemittanceAdvice, remittance_advice
from shared.domain.sellers import NO_HOLD, KycStatus, Seller
from shared.domain.tax_ids import TaxIdHolder, validate_tax_id

SELLER_ID = "s-refurb-lyon"
MARKETPLACE = "Example Marketplace"
OPERATOR = PlatformOperator(
    name="Example Marketplace SAS",
    business_name=MARKETPLACE,
    residence_country="FR",
    tin="404833048",  # a SIREN with a valid check digit (python-stdnum's example)
    vat_number="FR32404833048",
    address=Address("FR", "Paris", "1 rue de la Paix", post_code="75002"),
)


class SampleHistory:
    """One seller's history through the real domain, with a clock."""

    def __init__(self, seller_id: str = SELLER_ID, start: datetime | None = None) -> None:
        self.seller_id = seller_id
        self.clock = start or datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
        self.entries: list[DatedEntry] = []
        self.lines: dict[str, OrderLine] = {}
        self.payouts: dict[str, Payout] = {}
        self.n = 0

    def _tick(self) -> datetime:
        self.clock += timedelta(hours=3)
        self.n += 1
        return self.clock

    def _post(self, entries: tuple[JournalEntry, ...] | list[JournalEntry], at: datetime) -> None:
        self.entries.extend(DatedEntry(e, at) for e in entries)

    def event(self, kind: str, line: str, data: dict[str, object]) -> None:
        at = self._tick()
        raw = {
            "event_id": f"evt-{self.seller_id}-{self.n}",
            "type": f"order_line.{kind}",
            "occurred_at": at.isoformat(),
            "seller_id": self.seller_id,
            "order_line_id": line,
            "data": data,
        }
        rules = load_country_rules().get("FR")
        updated, results = apply_order_event(self.lines.get(line), parse_order_event(json.dumps(raw)), rules)
        self.lines[line] = updated
        for result in results:
            self._post(result.entries, at)

    def sell(self, line: str, gross: int, commission: int) -> None:
        self.event(
            "paid",
            line,
            {
                "gross": {"amount": gross, "currency": "EUR"},
                "commission": {"amount": commission, "currency": "EUR"},
            },
        )

    def release(self, line: str) -> None:
        self.event("return_window_closed", line, {"closed_at": self.clock.isoformat()})

    def refund(self, line: str, amount: int, refund_id: str) -> None:
        self.event(
            "refunded", line, {"refund_id": refund_id, "amount": {"amount": amount, "currency": "EUR"}}
        )

    def pay_out(self, amount: int, *, paid: bool = True) -> str:
        at = self._tick()
        payout_id = f"po_sample_{self.seller_id[-4:]}_{self.n}"
        payout, entry = new_payout(
            payout_id,
            self.seller_id,
            Money(amount, "EUR"),
            at=at,
            origin="on_demand",
            cause="sample",
            actor="sample",
        )
        self._post([entry], at)
        if paid:
            at = self._tick()
            payout, paid_entry = transition(
                payout,
                PayoutStatus.PAID,
                at=at,
                cause="sample",
                actor="sample",
                provider_ref=f"tr_sandbox_{self.n:06d}",
            )
            assert paid_entry is not None
            self._post([paid_entry], at)
        self.payouts[payout_id] = payout
        return payout_id

    def contents(self) -> dict[str, PayoutContents]:
        movements = available_movements(self.seller_id, "EUR", self.entries)
        return replay(SettlementState.empty(self.seller_id, "EUR"), movements).contents


def sample_history() -> tuple[SampleHistory, str]:
    """The history described in the module docstring and the id of its €40 payout."""
    history = SampleHistory()
    history.sell("ol-phone-1001", 30000, 3000)
    history.sell("ol-case-1002", 2000, 200)
    history.release("ol-phone-1001")
    history.release("ol-case-1002")
    history.pay_out(28800)
    history.refund("ol-phone-1001", 15000, "rf-1001-a")
    history.sell("ol-cable-1003", 20000, 2000)
    history.release("ol-cable-1003")
    return history, history.pay_out(4000)


def sample_seller(name: str = "Refurb Shop Lyon") -> Seller:
    rules = load_country_rules().get("FR")
    account = IbanAccount(scheme="iban", holder_name=name, iban=SecretStr("FR7630006000011234567890189"))
    at = datetime(2026, 1, 5, 9, tzinfo=UTC)
    return Seller(
        SELLER_ID,
        "FR",
        "EUR",
        name,
        validate_bank_account(account, rules),
        at,
        KycStatus.VERIFIED,
        rules.payout_schedule,
        NO_HOLD,
        at,
        at,
    )


def sample_advice(language: str, seller_name: str = "Refurb Shop Lyon") -> RemittanceAdvice:
    history, payout_id = sample_history()
    return remittance_advice(
        history.payouts[payout_id],
        history.contents()[payout_id],
        sample_seller(seller_name),
        timezone="Europe/Paris",
        marketplace_name=MARKETPLACE,
        language=language,
    )


def sample_dac7_report(year: int = 2026) -> Dac7Report:
    """Three sellers: one reportable individual (45 sales), one entity reportable on amount,
    one excluded under the de minimis rule."""
    rules = load_country_rules()
    identities: dict[str, SellerIdentity] = {}
    entries: list[DatedEntry] = []
    plans = [("s-camille", 45, 2599), ("s-refurb-gmbh", 3, 150000), ("s-occasional", 2, 5000)]
    for seller_id, count, gross in plans:
        history = SampleHistory(seller_id, datetime(year, 2, 1, 9, tzinfo=UTC))
        for i in range(count):
            history.clock += timedelta(days=5)
            history.sell(f"ol-{seller_id}-{i}", gross, gross // 10)
        entries.extend(history.entries)
    identities["s-camille"] = SellerIdentity(
        "s-camille",
        SellerKind.INDIVIDUAL,
        "FR",
        Address("FR", "Lyon", "12 rue Mercière", post_code="69002"),
        tins=(validate_tax_id("FR", "3023217600053", TaxIdHolder.INDIVIDUAL),),
        financial_account=validate_bank_account(
            IbanAccount(
                scheme="iban", holder_name="Camille Martin", iban=SecretStr("FR7630006000011234567890189")
            ),
            rules.get("FR"),
        ),
        first_name="Camille",
        last_name="Martin",
        birth_date=date(1985, 7, 30),
        birth_place=BirthPlace("Lyon", "FR"),
    )
    identities["s-refurb-gmbh"] = SellerIdentity(
        "s-refurb-gmbh",
        SellerKind.ENTITY,
        "DE",
        Address("DE", "Berlin", "Unter den Linden 1", post_code="10117"),
        tins=(validate_tax_id("DE", "181/815/08155", TaxIdHolder.ENTITY),),
        financial_account=validate_bank_account(
            IbanAccount(scheme="iban", holder_name="Refurb GmbH", iban=SecretStr("DE89370400440532013000")),
            rules.get("DE"),
        ),
        legal_name="Refurb GmbH",
        business_registration_number="HRB 12345",
        vat_number="DE136695976",
    )
    identities["s-occasional"] = SellerIdentity(
        "s-occasional",
        SellerKind.INDIVIDUAL,
        "ES",
        Address("ES", "Madrid"),
        first_name="Lucía",
        last_name="García",
    )
    return build_report(year, OPERATOR, identities, sales_from_journal(entries, year, OPERATOR.timezone))


def page_one_png(pdf: Path, png: Path, dpi: int = 60) -> Path:
    """Page 1 of ``pdf`` as a PNG, with pdftoppm (poppler-utils)."""
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        raise RuntimeError(
            "pdftoppm is missing: run scripts/bootstrap.sh as root (Debian package poppler-utils)"
        )
    prefix = png.with_suffix("")
    subprocess.run(
        [pdftoppm, "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", str(pdf), str(prefix)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return png


def main(
    out: Annotated[Path, typer.Argument(help="folder to write to")],
    languages: Annotated[str, typer.Option(help="comma-separated")] = ",".join(SUPPORTED_LANGUAGES),
    png: Annotated[bool, typer.Option(help="also page 1 of each PDF as a PNG")] = False,
    year: Annotated[int, typer.Option(help="DAC7 reportable period")] = 2026,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for language in [lang.strip() for lang in languages.split(",") if lang.strip()]:
        advice = sample_advice(language)
        path = out / pdf_file_name(advice)
        path.write_bytes(render_pdf(advice))
        typer.echo(str(path))
        if png:
            typer.echo(str(page_one_png(path, path.with_suffix(".png"))))
    report = sample_dac7_report(year)
    stamp = datetime(year + 1, 1, 15, 9, tzinfo=UTC)
    xml = out / dpi_file_name(report, declaration=1, timestamp=stamp)
    xml.write_bytes(build_dpi_xml(report, declaration=1, timestamp=stamp, test=True))
    typer.echo(f"{xml} (validated against the DPI schema)")
    for excluded in report.excluded:
        typer.echo(f"  excluded {excluded.seller_id}: {excluded.explanation}")


if __name__ == "__main__":
    typer.run(main)
