"""Checks of the ledger: the domain's invariants (``shared/domain/ledger_invariants.py``) on the
journal and balances as stored, each payout's postings, money out against the provider, and the
journal's append-only history."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from shared.domain.ledger import Bucket, PlatformAccount, parse_seller_account, seller_account
from shared.domain.ledger_invariants import MoneyFlow, money_flows, unknown_accounts
from shared.usecases.ledger_audit import LedgerReport
from verification.auditor.fingerprints import journal_fingerprints
from verification.auditor.payout_checks import Transfers
from verification.auditor.report import Check
from verification.auditor.store_data import Doc
from verification.auditor.vocabulary import FINAL, MONEY_STATES


def journal_invariants(ledger: LedgerReport) -> list[Check]:
    """Entries balance per currency; each stored balance equals its postings."""
    seller_balances = {k for k in ledger.account_totals if parse_seller_account(k[0])}
    return [
        Check(
            "entries_balance",
            "journal entries sum to zero per currency",
            ledger.entries,
            [p for p in ledger.problems if not p.startswith("balance ")],
            "ledger",
        ),
        Check(
            "balances_equal_postings",
            "each balance equals the sum of its postings",
            len(seller_balances | set(ledger.stored_balances)),
            [p for p in ledger.problems if p.startswith("balance ")],
            "ledger",
        ),
    ]


def _payout_ids_of(entry: Doc) -> tuple[str, str | None]:
    """(payout id, transition) of a payout entry: cause is ``payout_id`` or ``payout_id:status``."""
    pid, _, status = str(entry.get("cause", "")).partition(":")
    return pid, status or None


def payout_journal(payouts: Mapping[str, Doc], journal: Sequence[Doc]) -> list[Check]:
    """A final payout's in-flight postings net to zero (an open one's to its amount), and every
    transition that moves money has exactly one entry."""
    in_flight: dict[str, int] = defaultdict(int)
    booked: dict[str, Counter[str]] = defaultdict(Counter)
    unknown: list[str] = []
    for entry in journal:
        if _fx_return_booking(entry):
            # Issue 17: an FX payout the rail returned in its source currency is booked by its
            # reversal at the recorded rate alone (cause ``payout_id:returned:CCY``).
            pid, status = _payout_ids_of(entry)
            booked[pid][str(status).split(":", 1)[0]] += 1
            continue
        if not str(entry.get("kind", "")).startswith("payout."):
            continue
        pid, status = _payout_ids_of(entry)
        booked[pid][status or "created"] += 1
        if pid not in payouts:
            unknown.append(f"entry {entry['entry_id']} ({entry['kind']}) for unknown payout {pid}")
            continue
        account = seller_account(str(payouts[pid]["seller_id"]), Bucket.IN_FLIGHT)
        in_flight[pid] += sum(int(x["amount"]) for x in entry["postings"] if x["account"] == account)
    return [_in_flight_zero(payouts, in_flight), _transitions_booked(payouts, booked, unknown)]


def _fx_return_booking(entry: Doc) -> bool:
    """An FX reversal that takes the money back from ``platform:payouts`` (a return the rail gave
    back in the source currency): the entry of that payout's ``returned`` transition."""
    return str(entry.get("kind", "")) == "fx.reversed" and any(
        x["account"] == PlatformAccount.PAYOUTS.value for x in entry.get("postings", [])
    )


def _in_flight_zero(payouts: Mapping[str, Doc], in_flight: Mapping[str, int]) -> Check:
    check = Check(
        "in_flight_zero", "in-flight of every final payout back at zero", len(payouts), kind="ledger"
    )
    for pid, p in sorted(payouts.items()):
        want = 0 if p["status"] in FINAL else int(p["amount"])
        if in_flight.get(pid, 0) != want:
            check.breaches.append(
                f"{pid} ({p['status']}) has {in_flight.get(pid, 0)} in flight, expected {want}"
            )
    return check


def _transitions_booked(
    payouts: Mapping[str, Doc], booked: Mapping[str, Counter[str]], unknown: list[str]
) -> Check:
    check = Check("transitions_booked", "every money transition has exactly one journal entry", len(payouts))
    check.breaches += unknown
    for pid, p in sorted(payouts.items()):
        moves = [str(h["to"]) for h in p.get("history", []) if h.get("to") in MONEY_STATES]
        expected = Counter({"created": 1, **Counter(moves)})
        got = booked.get(pid, Counter())
        if got != expected:
            check.breaches.append(f"{pid} ({p['status']}) has entries {dict(got)}, expected {dict(expected)}")
    return check


def money_conserved(
    ledger: LedgerReport, flows: Mapping[str, MoneyFlow], expected_collected: Mapping[str, int] | None
) -> Check:
    """Per currency, collected = paid out + commission + refunds + balances + rail fees + the FX
    accounts in that currency (issue 17), and collected is what the customers paid (when the
    caller knows it); no posting to an unknown account."""
    check = Check(
        "money_conserved",
        "collected = paid out + commission + refunds + balances + FX positions",
        kind="ledger",
    )
    for ccy, flow in flows.items():
        check.checked += 1
        if not flow.conserved:
            check.breaches.append(f"{ccy}: collected {flow.collected} but accounted for {flow.accounted_for}")
        if expected_collected is not None and flow.collected != expected_collected.get(ccy, 0):
            check.breaches.append(
                f"{ccy}: collected {flow.collected} but customers paid {expected_collected.get(ccy, 0)}"
            )
    if expected_collected is not None:
        for ccy in sorted(set(expected_collected) - set(flows)):
            if expected_collected[ccy]:
                check.breaches.append(
                    f"{ccy}: customers paid {expected_collected[ccy]}, the ledger has nothing"
                )
    check.breaches += [f"posting to unknown account {a}" for a in unknown_accounts(ledger.account_totals)]
    return check


def money_flows_of(ledger: LedgerReport) -> dict[str, MoneyFlow]:
    return money_flows(ledger.account_totals, ledger.stored_balances)


def as_totals(flow: MoneyFlow) -> dict[str, int]:
    """The report's summary of a currency."""
    return {
        "collected": flow.collected,
        "paid_out": flow.paid_out,
        "commission": flow.commission,
        "refunds": flow.refunds,
        "balances": flow.balances,
        "rail_fees": flow.rail_fees,
        "fx": flow.fx,  # platform:fx, fx_rounding and fx_gain_loss in this currency (issue 17)
    }


def ledger_matches_provider(
    totals: Mapping[str, Mapping[str, int]], payouts: Mapping[str, Doc], transfers_of: Transfers
) -> Check:
    """What the ledger says left for sellers' banks, against what the provider says it paid.
    Per currency, not per payout: it counts towards no figure, the per-payout checks say which."""
    at_provider: dict[str, int] = defaultdict(int)
    for ref, ts in transfers_of.items():
        if ref in payouts:
            for transfer in ts:
                if transfer["status"] == "paid":
                    at_provider[str(transfer["currency"])] += int(transfer["amount"])
    check = Check("ledger_matches_provider", "money out per the ledger = paid per the provider")
    for ccy in sorted(set(at_provider) | {c for c, t in totals.items() if t["paid_out"]}):
        check.checked += 1
        ours = totals.get(ccy, {}).get("paid_out", 0)
        if ours != at_provider[ccy]:
            check.breaches.append(f"{ccy}: ledger {ours}, provider {at_provider[ccy]}")
    return check


def journal_append_only(journal: Sequence[Doc], snapshots: Sequence[Mapping[str, str]]) -> Check:
    """Every entry of every checkpoint is still there, unchanged."""
    now = journal_fingerprints(journal)
    check = Check(
        "journal_append_only",
        f"journal append-only ({len(snapshots)} checkpoints)",
        sum(len(s) for s in snapshots),
        kind="ledger",
    )
    for n, snap in enumerate(snapshots, start=1):
        for entry_id, digest in sorted(snap.items()):
            if entry_id not in now:
                check.breaches.append(f"entry {entry_id} of checkpoint {n} was deleted")
            elif now[entry_id] != digest:
                check.breaches.append(f"entry {entry_id} of checkpoint {n} was changed")
    return check
