"""What the auditor reads: the store's documents, as stored, and the provider's transfers.

A dataset file holds both, so an audit can run away from the stack (and on hand-made data)::

    {"payouts": [...], "journal": [...], "balance_shards": [...], "outbox": [...], "runs": [...],
     "provider_transfers": [...],
     "journal_checkpoints": [[journal entry, ...], ...],   # optional: the journal at checkpoints
     "expected_collected": {"EUR": 123, ...}}              # optional: what customers paid

Timestamps are ISO 8601 strings in the file; the checks never compare them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from shared.adapters.firestore.documents import CHUNKS, PAYOUT_CONTENTS
from shared.adapters.firestore_store import (
    BALANCE_SHARDS,
    JOURNAL,
    OUTBOX,
    PAYOUT_RUNS,
    PAYOUTS,
    FirestoreStore,
)

Doc = Mapping[str, Any]


@dataclass
class StoreData:
    """Plain documents, as stored (Firestore timestamps may be datetimes or strings)."""

    payouts: list[dict[str, Any]] = field(default_factory=list)
    journal: list[dict[str, Any]] = field(default_factory=list)
    balance_shards: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    # What payouts pay for (issue 18): contents documents, their chunks' pieces merged in.
    payout_contents: list[dict[str, Any]] = field(default_factory=list)


def load_store(store: FirestoreStore) -> StoreData:
    client = store.client

    def docs(collection: str) -> list[dict[str, Any]]:
        return [snap.to_dict() or {} for snap in client.collection(collection).stream()]

    return StoreData(
        payouts=docs(PAYOUTS),
        journal=docs(JOURNAL),
        balance_shards=[s.to_dict() or {} for s in client.collection_group(BALANCE_SHARDS).stream()],
        outbox=docs(OUTBOX),
        runs=docs(PAYOUT_RUNS),
        payout_contents=_payout_contents(client),
    )


def _payout_contents(client: Any) -> list[dict[str, Any]]:
    out = []
    for snap in client.collection(PAYOUT_CONTENTS).stream():
        head = snap.to_dict() or {}
        pieces = list(head.get("pieces", []))
        for n in range(1, int(head.get("chunks", 1))):
            chunk = snap.reference.collection(CHUNKS).document(str(n)).get().to_dict() or {}
            pieces += chunk.get("pieces", [])
        out.append({**head, "pieces": pieces, "chunks": 1})
    return out


def plain(value: Any) -> Any:
    """JSON for what a document may hold besides JSON: timestamps as ISO 8601."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


@dataclass
class Dataset:
    """Everything one audit reads, from a file."""

    data: StoreData
    provider_transfers: list[dict[str, Any]]
    journal_checkpoints: list[list[dict[str, Any]]]
    expected_collected: dict[str, int] | None


def read_dataset(path: Path) -> Dataset:
    raw = json.loads(path.read_text())
    data = StoreData(**{name: list(raw.get(name, [])) for name in StoreData.__dataclass_fields__})
    expected = raw.get("expected_collected")
    return Dataset(
        data=data,
        provider_transfers=list(raw.get("provider_transfers", [])),
        journal_checkpoints=[list(c) for c in raw.get("journal_checkpoints", [])],
        expected_collected={str(k): int(v) for k, v in expected.items()} if expected is not None else None,
    )


def write_dataset(path: Path, data: StoreData, provider_transfers: Sequence[Doc]) -> None:
    document: dict[str, Any] = {name: getattr(data, name) for name in StoreData.__dataclass_fields__}
    document["provider_transfers"] = list(provider_transfers)
    path.write_text(json.dumps(document, indent=1, sort_keys=True, default=plain) + "\n")
