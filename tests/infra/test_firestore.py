"""Every composite index a query of the deployed code needs is declared in infra/, and every
declared index serves a query. The emulator never asks for an index; production refuses the query.

A new query that orders, filters on a range, combines filters or spans a collection group shows
up here until it is listed in QUERY_INDEXES with the indexes it needs (or none, and why).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.infra import codefacts, tfmodel

infra = tfmodel.load()
INDEXES: dict[str, dict[str, Any]] = infra.locals["firestore_indexes"]

STORE = "shared/adapters/firestore/store.py"
CONSOLE = "shared/adapters/firestore/console.py::FirestoreConsoleReads"
LIST_PAYOUTS = {key for key in INDEXES if key.startswith("payouts-list")}
LIST_BREAKS = {key for key in INDEXES if key.startswith("reconciliation_breaks-list")}

# Query site -> the indexes it needs (by their key in local.firestore_indexes).
QUERY_INDEXES: dict[str, set[str]] = {
    f"{STORE}::FirestoreStore.due_order_lines": {"order_lines-release"},
    f"{STORE}::_SellerQueries.in_buckets": {"sellers-run_bucket"},
    f"{STORE}::_PayoutQueries.open_before": {"payouts-status-updated_at"},
    f"{STORE}::_PayoutQueries.paid_due_for_return_check": {"payouts-status-return_check_from"},
    # Any combination of seller_id/status/run_id equality, ordered by created_at, payout_id.
    f"{STORE}::_PayoutQueries.newest_first": LIST_PAYOUTS,
    # A run's payouts not yet handed to a rail, by payout id (its funding check).
    f"{STORE}::_PayoutQueries.unsent_of_run": {"payouts-run_id-status-payout_id"},
    # A run's pages still queued past their due time (the sweeper).
    f"{STORE}::_RunStore.queued_pages_due_before": {"pages-status-due_at"},
    # skip_reason == (optional), seller_id == (optional), ordered by seller_id.
    f"{STORE}::_RunStore.items": {"items-skip_reason-seller_id"},
    # Reconciliation: the ledger side of a rail's window; reports by rail; breaks by any of
    # rail/state/cls, newest first.
    f"{STORE}::_PayoutQueries.sent_over_rail": {"payouts-provider-transfer_started_at"},
    f"{STORE}::_ReconciliationStore.reports": {"reconciliation_reports-rail-window_start"},
    f"{STORE}::_ReconciliationStore.breaks": LIST_BREAKS,
    # What payouts pay for: a seller's journal since a time (issue 18).
    f"{STORE}::_Settlements.entries_since": {"journal-seller_id-created_at"},
    f"{STORE}::_ContentsQueries.seller_entries": {"journal-seller_id-created_at"},
    # An unfiltered collection-group scan of balance shards: needs no index (and is run by the
    # demo and the tests, not by a deployed function).
    f"{STORE}::FirestoreStore.balance_shard_documents": set(),
    # The console: runs and dead letters newest first (one field ordered: the automatic
    # single-field index, descending included).
    f"{CONSOLE}.runs_newest_first": set(),
    f"{CONSOLE}.dead_letters": set(),
    # Sellers by id or display name prefix: one field ranged and ordered each (automatic index);
    # a seller's newest journal entries.
    f"{CONSOLE}.find_sellers": set(),
    f"{CONSOLE}.seller_entries_newest_first": {"journal-seller_id-created_at-desc"},
    # A seller's unreleased order lines: seller_id == and release_state in, no order (merged
    # single-field indexes).
    f"{CONSOLE}.unreleased_order_lines": set(),
    # Bank files written since the bank's last statement (the funding check of the bank rail): one
    # field ranged and ordered (the automatic single-field index).
    "shared/adapters/firestore/bank_files.py::FirestoreBankFiles.written_since": set(),
}


def index_fields(key: str) -> list[tuple[str, str]]:
    return [(f, order) for f, order in INDEXES[key]["fields"]]


def test_every_query_that_may_need_an_index_is_reviewed():
    sites = {where for where, site in codefacts.query_sites().items() if site.needs_review}
    new, gone = sites - set(QUERY_INDEXES), set(QUERY_INDEXES) - sites
    assert not new, f"queries not reviewed for indexes: {sorted(new)}; add them to QUERY_INDEXES"
    assert not gone, f"QUERY_INDEXES names queries that no longer exist: {sorted(gone)}"


def test_declared_indexes_are_exactly_the_needed_ones():
    needed = set().union(*QUERY_INDEXES.values())
    assert not needed - set(INDEXES), f"missing in infra/firestore.tf: {sorted(needed - set(INDEXES))}"
    assert not set(INDEXES) - needed, f"indexes no query uses: {sorted(set(INDEXES) - needed)}"
    resource = infra.resource("google_firestore_index", "index")
    assert resource["for_each"] == "${local.firestore_indexes}"
    assert resource["query_scope"] == "COLLECTION"


@pytest.mark.parametrize("where", sorted(QUERY_INDEXES))
def test_indexes_name_fields_the_query_uses(where):
    site = codefacts.query_sites()[where]
    for key in QUERY_INDEXES[where]:
        for fieldname, order in index_fields(key):
            assert order in ("ASCENDING", "DESCENDING")
            assert fieldname in site.strings, f"{key}: {where} never names field {fieldname!r}"
        ordered = [f for f in site.order_by if f != "?"]
        if ordered:
            tail = [f for f, _ in index_fields(key)][-len(ordered) :]
            assert tail == ordered, f"{key} must end with the ordering of {where}: {ordered}"


def test_payout_list_has_an_index_for_every_combination_of_filters():
    suffix = [("created_at", "DESCENDING"), ("payout_id", "DESCENDING")]
    shapes = set()
    for key in LIST_PAYOUTS:
        fields = index_fields(key)
        assert fields[-2:] == suffix, key
        assert all(order == "ASCENDING" for _, order in fields[:-2])
        shapes.add(frozenset(f for f, _ in fields[:-2]))
    filters = ("seller_id", "status", "run_id")
    wanted = {frozenset(c) for n in range(len(filters) + 1) for c in itertools.combinations(filters, n)}
    assert shapes == wanted


def test_collections_exist_in_the_code():
    from shared.adapters.firestore import documents as fs

    names = {v for k, v in vars(fs).items() if k.isupper() and isinstance(v, str)}
    for key, index in INDEXES.items():
        assert index["collection"] in names, f"{key}: no collection {index['collection']!r} in the adapter"


def test_idempotency_keys_expire():
    from shared.adapters.firestore.documents import IDEMPOTENCY_KEYS

    ttl = infra.resource("google_firestore_field", "idempotency_keys_ttl")
    assert ttl["collection"] == IDEMPOTENCY_KEYS
    assert ttl["field"] == "expires_at"
    assert "ttl_config" in ttl
    source = (tfmodel.ROOT / "shared" / "adapters" / "firestore" / "documents.py").read_text()
    assert '"expires_at"' in source, "the code no longer writes expires_at on idempotency keys"


def test_database():
    db = infra.resource("google_firestore_database", "default")
    assert db["name"] == "(default)", "the client uses the default database"
    assert db["type"] == "FIRESTORE_NATIVE"
    assert db["delete_protection_state"] == "DELETE_PROTECTION_ENABLED"
    assert db["point_in_time_recovery_enablement"] == "POINT_IN_TIME_RECOVERY_ENABLED"
