"""pain.001.001.09 files: every one validates against the XSD sepaxml ships, amounts are exact,
and the same batch always gives the same bytes under the same name."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyiso20022.pain.pain_001_001_09 import pain_001_001_09 as pain001
from xsdata.formats.dataclass.parsers import XmlParser

from shared.adapters.bank_files.sepa_credit_transfer import (
    CreditTransfer,
    CreditTransferBatch,
    Pain001Invalid,
    SepaDebtor,
    batches,
    validate_pain001,
    write_pain001,
)
from shared.domain.bank_accounts import ValidatedBankAccount
from shared.domain.bank_files import BankFileError, payout_id_from_end_to_end
from shared.domain.money import Money
from shared.domain.payouts import run_payout_id
from stand_ins.sample_sellers import iban_for

DEBTOR = SepaDebtor("Seller Payouts Platform", "DE89370400440532013000", "COBADEFFXXX")
CREATED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def account(country: str, n: int, holder: str, bic: str | None = None):
    return ValidatedBankAccount.from_storage(
        {"scheme": "iban", "holder_name": holder, "iban": iban_for(country, n), "bic": bic}
    )


def transfer(n: int, amount: int = 1234, holder: str = "Refurb Shop", country: str = "FR") -> CreditTransfer:
    return CreditTransfer(
        run_payout_id("run-2026-11-23", f"s{n}"),
        Money(amount, "EUR"),
        account(country, n, holder),
        "Payout 2026-11-23",
    )


def parse(content: bytes):
    return XmlParser().from_bytes(content, pain001.Document).cstmr_cdt_trf_initn


def test_a_batch_becomes_a_valid_pain001_with_exact_amounts_and_our_ids():
    batch = CreditTransferBatch(
        date(2026, 11, 24), CREATED, DEBTOR, (transfer(1, 1), transfer(2, 99_999), transfer(3, 10))
    )
    written = write_pain001(batch)
    validate_pain001(written.content)
    doc = parse(written.content)
    assert doc.grp_hdr.msg_id == written.message_id == batch.message_id
    assert doc.grp_hdr.nb_of_txs == "3" and doc.grp_hdr.ctrl_sum == Decimal("1000.10")
    assert written.control_sum == Money(100_010, "EUR") and written.transaction_count == 3
    [info] = doc.pmt_inf
    assert str(info.reqd_exctn_dt.dt) == "2026-11-24" and info.dbtr_acct.id.iban == DEBTOR.iban
    amounts = {
        payout_id_from_end_to_end(tx.pmt_id.end_to_end_id): tx.amt.instd_amt.value
        for tx in info.cdt_trf_tx_inf
    }
    assert amounts == {t.payout_id: t.amount.to_decimal() for t in batch.transfers}
    assert written.object_name == f"pain.001/2026-11-24/{written.message_id}.xml"


def test_the_same_batch_in_any_order_gives_the_same_file():
    transfers = [transfer(n, 100 + n) for n in range(6)]
    first = write_pain001(CreditTransferBatch(date(2026, 11, 24), CREATED, DEBTOR, tuple(transfers)))
    random.Random(1).shuffle(transfers)
    second = write_pain001(CreditTransferBatch(date(2026, 11, 24), CREATED, DEBTOR, tuple(transfers)))
    assert second.content == first.content and second.object_name == first.object_name


def test_names_are_written_in_the_sepa_character_set():
    written = write_pain001(
        CreditTransferBatch(date(2026, 11, 24), CREATED, DEBTOR, (transfer(1, holder="Müller & Söhne_GmbH"),))
    )
    [tx] = parse(written.content).pmt_inf[0].cdt_trf_tx_inf
    assert tx.cdtr.nm == "Muller Sohne GmbH"


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 99_999_999_999),
            st.text(
                st.characters(exclude_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp")),
                min_size=1,
                max_size=90,
            ),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_every_file_written_validates_against_the_xsd(rows):
    transfers = tuple(transfer(n, amount, holder) for n, (amount, holder) in enumerate(rows))
    written = write_pain001(CreditTransferBatch(date(2026, 11, 24), CREATED, DEBTOR, transfers))
    validate_pain001(written.content)  # write_pain001 did too; this is the test saying so
    txs = parse(written.content).pmt_inf[0].cdt_trf_tx_inf
    assert sum(Money.from_decimal(tx.amt.instd_amt.value, "EUR").amount for tx in txs) == sum(
        a for a, _ in rows
    )


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda t: replace(t, amount=Money(100, "GBP")), "transfers[0]"),
        (lambda t: replace(t, amount=Money(0, "EUR")), "transfers[0]"),
        (lambda t: replace(t, amount=Money(100_000_000_000, "EUR")), "transfers[0]"),
        (lambda t: replace(t, payout_id="po_" + "x" * 40), "payout_id"),
    ],
)
def test_what_cannot_be_a_sepa_credit_transfer_is_refused(change, field):
    batch = CreditTransferBatch(date(2026, 11, 24), CREATED, DEBTOR, (change(transfer(1)),))
    with pytest.raises(BankFileError) as err:
        write_pain001(batch)
    assert err.value.field == field


def test_a_batch_needs_transfers_an_aware_time_and_a_valid_debtor():
    with pytest.raises(BankFileError):
        write_pain001(CreditTransferBatch(date(2026, 11, 24), CREATED, DEBTOR, ()))
    with pytest.raises(BankFileError):
        write_pain001(
            CreditTransferBatch(date(2026, 11, 24), CREATED.replace(tzinfo=None), DEBTOR, (transfer(1),))
        )
    with pytest.raises(BankFileError):
        SepaDebtor("Platform", "DE00370400440532013000")


def test_a_file_that_breaks_the_schema_never_passes_and_the_reason_names_no_account():
    written = write_pain001(CreditTransferBatch(date(2026, 11, 24), CREATED, DEBTOR, (transfer(1),)))
    iban = transfer(1).creditor.iban.get_secret_value()
    broken = written.content.replace(iban.encode(), b"NOT-AN-IBAN")
    with pytest.raises(Pain001Invalid) as err:
        validate_pain001(broken)
    assert "IBAN" in str(err.value) and iban not in str(err.value)
    with pytest.raises(Pain001Invalid):
        validate_pain001(b"<Document")
    too_long = written.content.replace(b"<EndToEndId>", b"<EndToEndId>" + b"x" * 30)
    with pytest.raises(Pain001Invalid):
        validate_pain001(too_long)


def test_large_sets_are_split_in_payout_id_order():
    transfers = [transfer(n) for n in range(7)]
    parts = batches(
        transfers, execution_date=date(2026, 11, 24), created_at=CREATED, debtor=DEBTOR, max_per_file=3
    )
    assert [len(b.transfers) for b in parts] == [3, 3, 1]
    assert [t.payout_id for b in parts for t in b.transfers] == sorted(t.payout_id for t in transfers)
    assert len({b.message_id for b in parts}) == 3
    with pytest.raises(BankFileError):
        batches(
            transfers, execution_date=date(2026, 11, 24), created_at=CREATED, debtor=DEBTOR, max_per_file=0
        )
