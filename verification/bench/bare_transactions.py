"""Baseline: bare Firestore transactions of the transfer worker's counted shape, with the raw client
and no application code, at the same concurrency."""

from __future__ import annotations

import functools
import time
import uuid
from typing import Any

from verification.bench.context import Bench
from verification.bench.load import drive

JSON = dict[str, Any]


def bare_shape(ops: dict[str, int], calls: int) -> dict[str, int]:
    """One transfer-worker call, as counted: its transactions, reads and writes, rounded."""

    def avg(v: int) -> int:
        return round(v / calls) if calls else 0

    return {
        "transactions": max(1, avg(ops["firestore_transactions"])),
        "tx_reads": avg(ops["firestore_reads_in_tx"]),
        "tx_writes": avg(ops["firestore_writes_in_tx"]),
        "plain_reads": avg(ops["firestore_reads"] - ops["firestore_reads_in_tx"]),
        "plain_writes": avg(ops["firestore_writes"] - ops["firestore_writes_in_tx"]),
    }


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


PAYLOAD: JSON = {
    "amount": 12345,
    "currency": "EUR",
    "status": "pending",
    "seller_id": "bench-seller",
    "origin": "run",
    "history": [{"at": "2026-01-01T00:00:00Z", "from": None, "to": "pending", "cause": "x" * 40}],
    **{f"field_{i}": "v" * 20 for i in range(10)},
}


def bare_transactions(bench: Bench, ops: dict[str, int], calls: int, concurrency: int) -> JSON:
    """Units of the transfer worker's Firestore shape, with the raw client, no application code."""
    from google.cloud import firestore

    shape = bare_shape(ops, calls)
    units = calls
    client = firestore.Client(project=f"bench-bare-{uuid.uuid4().hex[:8]}")
    docs = client.collection("bare")
    reads = _split(shape["tx_reads"], shape["transactions"])
    writes = _split(shape["tx_writes"], shape["transactions"])
    extra_reads = max(max(reads, default=0) - 1, 0)
    batch = client.batch()
    pending = 0
    for u in range(units):  # the documents each unit reads exist, as a payout does
        for k in range(1 + extra_reads):
            batch.set(docs.document(f"u{u}-r{k}"), PAYLOAD)
            pending += 1
            if pending == 450:
                batch.commit()
                batch, pending = client.batch(), 0
    if pending:
        batch.commit()

    def unit(u: int) -> tuple[float, int, str]:
        t = time.perf_counter()
        for i in range(shape["transactions"]):

            @firestore.transactional
            def body(txn: Any, i: int = i) -> None:
                for k in range(reads[i]):
                    docs.document(f"u{u}-r{k}").get(transaction=txn)
                for k in range(writes[i]):
                    ref = docs.document(f"u{u}-r0" if k == 0 else f"u{u}-t{i}-w{k}")
                    txn.set(ref, PAYLOAD)

            body(client.transaction())
        for _ in range(shape["plain_reads"]):
            docs.document(f"u{u}-r0").get()
        for k in range(shape["plain_writes"]):
            docs.document(f"u{u}-p{k}").set({"published": True})
        return time.perf_counter() - t, 200, ""

    row = drive(
        [functools.partial(unit, u) for u in range(units)],
        concurrency,
        f"bare transactions, concurrency {concurrency}",
    )
    client.close()  # type: ignore[no-untyped-call]
    return {"shape": shape, "units": units, **{k: row[k] for k in ("seconds", "per_s", "p50_ms", "p99_ms")}}
