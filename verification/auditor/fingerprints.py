"""Checkpoints of the append-only journal: entry id -> hash of the whole entry document."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from shared.adapters.firestore_store import JOURNAL, FirestoreStore
from verification.auditor.store_data import Doc, StoreData, plain


def entry_hash(entry: Doc) -> str:
    return hashlib.sha256(json.dumps(entry, sort_keys=True, default=plain).encode()).hexdigest()


def journal_fingerprints(source: FirestoreStore | StoreData | Iterable[Doc]) -> dict[str, str]:
    """entry id -> hash of its whole document: a checkpoint of the append-only journal."""
    if isinstance(source, FirestoreStore):
        entries: Iterable[Doc] = (s.to_dict() or {} for s in source.client.collection(JOURNAL).stream())
    elif isinstance(source, StoreData):
        entries = source.journal
    else:
        entries = source
    return {str(e["entry_id"]): entry_hash(e) for e in entries}
