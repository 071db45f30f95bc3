"""Every document of the stack's Firestore project, with its update time: a refusal that wrote
anything shows up as a difference between two snapshots.

One kindless, all-descendants query (``from: [{allDescendants: true}]`` with no collection id)
through the emulator's REST API reads every collection and subcollection at once; the projection
keeps only the names (each result still carries its ``updateTime``).
"""

from __future__ import annotations

import time
from typing import Any

import requests

Snapshot = dict[str, str]  # document path (collection/id/sub/id) -> update time


def snapshot(stack: Any) -> Snapshot:
    base = f"http://{stack.env['FIRESTORE_EMULATOR_HOST']}/v1/projects/{stack.project}/databases/(default)"
    query = {
        "structuredQuery": {
            "select": {"fields": [{"fieldPath": "__name__"}]},
            "from": [{"allDescendants": True}],
        }
    }
    resp = requests.post(
        f"{base}/documents:runQuery", json=query, headers={"Authorization": "Bearer owner"}, timeout=60
    )
    resp.raise_for_status()
    out: Snapshot = {}
    for row in resp.json():
        doc = row.get("document")
        if doc:
            out[doc["name"].split("/documents/", 1)[1]] = doc["updateTime"]
    return out


def quiet_snapshot(stack: Any, *, settle: float = 1.0, timeout: float = 90) -> Snapshot:
    """A snapshot taken once the store has stopped changing (what earlier tests set going, such as
    a provider's webhooks or an outbox relay, has finished): two reads ``settle`` seconds apart agree."""
    deadline = time.monotonic() + timeout
    last = snapshot(stack)
    while True:
        time.sleep(settle)
        now = snapshot(stack)
        if now == last:
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"the store never settled: {sorted(changes(last, now))[:10]}")
        last = now


def changes(before: Snapshot, after: Snapshot) -> set[str]:
    """Documents created, updated or deleted between two snapshots."""
    return {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
