"""Operation counters, incremented at the adapter boundary, for the benchmark (verification/bench/).

Off unless asked for, so production and the tests pay one boolean check per operation:

- ``PAYOUTS_METRICS_FILE=/some/dir/counters`` in a process's environment (the benchmark starts
  the stack with it) turns counting on. The process then writes its counters to
  ``/some/dir/counters.<pid>.json`` from a daemon thread, at most every ``DUMP_INTERVAL`` seconds
  and only when they changed, and once more at exit. The file is replaced atomically and holds
  ``{"pid", "function", "written_at", "counters": {name: int}}``; counters only ever grow, so a
  reader takes two snapshots and subtracts. A forked child (gunicorn's worker) starts from zero
  and writes its own file.
- :func:`enable` turns counting on in-process with no file (the benchmark's own process, tests).

What is counted (names):

- ``firestore.*``, seen on the Firestore client's RPCs (:func:`instrument_firestore`, installed
  by ``firestore_store.firestore_client``): ``reads`` (documents returned by lookups and queries,
  a missing document counts as one read as Firestore bills it, a query that returns nothing
  counts one), of which ``reads_in_tx`` inside a transaction and ``reads_missing``;
  ``aggregations`` (count/sum queries, billed one read per 1,000 index entries, counted as one);
  ``writes`` (document writes in commits: a set, create, update or a set with server-side
  increments is one write), of which ``writes_in_tx``; ``commits``, ``tx_begun`` (transaction
  attempts as the server sees them), ``rollbacks``.
- ``firestore.transactions`` (calls of ``FirestoreStore.run``) and ``firestore.tx_attempts``
  (runs of the transaction body): retries = attempts - transactions.
- ``tasks.created``, ``tasks.created.<queue>``, ``tasks.already_exists``.
- ``pubsub.messages``, ``pubsub.bytes`` (data plus attribute keys and values).
- ``provider.create_transfer``, ``provider.fetch_transfer``, ``provider.webhooks`` (verified).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

ENV = "PAYOUTS_METRICS_FILE"
DUMP_INTERVAL = 0.5  # seconds

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_enabled = bool(os.environ.get(ENV))
_dirty = False
_dumper_pid = 0  # the pid whose dumper thread runs (0: none yet)


def enabled() -> bool:
    return _enabled


def enable() -> None:
    """Count in this process (no file unless PAYOUTS_METRICS_FILE is set)."""
    global _enabled
    _enabled = True


def incr(name: str, n: int = 1) -> None:
    global _dirty
    if not _enabled:
        return
    with _lock:
        _counts[name] += n
        _dirty = True
    if _dumper_pid != os.getpid() and os.environ.get(ENV):
        _start_dumper()


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def reset() -> None:
    global _dirty
    with _lock:
        _counts.clear()
        _dirty = False


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """What happened between two snapshots (names that did not move are left out)."""
    return {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v - before.get(k, 0)}


# ---- the per-process file -------------------------------------------------------------------


def dump_path(pid: int | None = None) -> Path | None:
    base = os.environ.get(ENV)
    return Path(f"{base}.{pid or os.getpid()}.json") if base else None


def dump() -> None:
    """Write this process's counters to its file (atomically), if counting to a file."""
    global _dirty
    path = dump_path()
    if path is None:
        return
    with _lock:
        counters = dict(_counts)
        _dirty = False
    body = {
        "pid": os.getpid(),
        "function": os.environ.get("FUNCTION_NAME", ""),
        "written_at": time.time(),
        "counters": counters,
    }
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(body, sort_keys=True))
        tmp.replace(path)


def _dump_loop() -> None:
    while True:
        time.sleep(DUMP_INTERVAL)
        if _dirty:
            dump()


def _start_dumper() -> None:
    global _dumper_pid
    with _lock:
        if _dumper_pid == os.getpid():
            return
        _dumper_pid = os.getpid()
    threading.Thread(target=_dump_loop, name="metrics-dump", daemon=True).start()
    atexit.register(dump)


def _after_fork_in_child() -> None:
    global _lock, _dirty, _dumper_pid
    _lock = threading.Lock()  # the parent may have held it while forking
    _counts.clear()
    _dirty = False
    _dumper_pid = 0


os.register_at_fork(after_in_child=_after_fork_in_child)


def read_dumps(base: str | Path) -> list[dict[str, Any]]:
    """Every process file written under ``base`` (``<base>.<pid>.json``)."""
    base = Path(base)
    found = []
    for path in sorted(base.parent.glob(base.name + ".*.json")):
        with contextlib.suppress(OSError, ValueError):
            found.append(json.loads(path.read_text()))
    return found


def totals_by_function(dumps: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Counters summed per function name (a gunicorn master and its worker add up)."""
    out: dict[str, Counter[str]] = {}
    for d in dumps:
        out.setdefault(str(d.get("function") or f"pid-{d.get('pid')}"), Counter()).update(d["counters"])
    return {name: dict(c) for name, c in sorted(out.items())}


# ---- Firestore: count on the client's RPCs -----------------------------------------------------


def _field(request: Any, name: str) -> Any:
    if isinstance(request, dict):
        return request.get(name)
    return getattr(request, name, None)


def _has(message: Any, name: str) -> bool:
    try:
        return name in message  # proto-plus: is the field set?
    except TypeError:
        return bool(getattr(message, name, None))


def _counted_stream(
    responses: Iterable[Any], on_item: Callable[[Any], None], at_end: Callable[[], None]
) -> Iterator[Any]:
    try:
        for item in responses:
            on_item(item)
            yield item
    finally:
        at_end()


def instrument_firestore(client: Any) -> Any:
    """Wrap the RPC methods of a ``google.cloud.firestore.Client``'s API to count documents read
    and written. Only when counting is on; the calls and their results are unchanged."""
    if not _enabled:
        return client
    api = client._firestore_api  # the GAPIC client, created once and cached by the Client
    if getattr(api, "_payouts_metrics", False):
        return client

    def wrap(name: str, counter: Callable[[Any, Any], Any]) -> None:
        original = getattr(api, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            request = kwargs.get("request", args[0] if args else None)
            return counter(request, original(*args, **kwargs))

        setattr(api, name, call)

    def batch_get(request: Any, responses: Any) -> Any:
        in_tx = bool(_field(request, "transaction") or _field(request, "new_transaction"))

        def item(resp: Any) -> None:
            found, missing = _has(resp, "found"), _has(resp, "missing")
            if found or missing:
                incr("firestore.reads")
                incr("firestore.reads_in_tx", int(in_tx))
                incr("firestore.reads_missing", int(missing))

        return _counted_stream(responses, item, lambda: None)

    def run_query(request: Any, responses: Any) -> Any:
        in_tx = bool(_field(request, "transaction") or _field(request, "new_transaction"))
        seen = [0]

        def item(resp: Any) -> None:
            if _has(resp, "document"):
                seen[0] += 1
                incr("firestore.reads")
                incr("firestore.reads_in_tx", int(in_tx))

        def end() -> None:
            incr("firestore.queries")
            if not seen[0]:
                incr("firestore.reads")  # an empty result is billed one read

        return _counted_stream(responses, item, end)

    def aggregation(request: Any, responses: Any) -> Any:
        incr("firestore.aggregations")
        incr("firestore.reads")
        return responses

    def commit(request: Any, response: Any) -> Any:
        writes = len(_field(request, "writes") or ())
        incr("firestore.commits")
        incr("firestore.writes", writes)
        incr("firestore.writes_in_tx", writes if _field(request, "transaction") else 0)
        return response

    def begin(request: Any, response: Any) -> Any:
        incr("firestore.tx_begun")
        return response

    def rollback(request: Any, response: Any) -> Any:
        incr("firestore.rollbacks")
        return response

    wrap("batch_get_documents", batch_get)
    wrap("run_query", run_query)
    wrap("run_aggregation_query", aggregation)
    wrap("commit", commit)
    wrap("begin_transaction", begin)
    wrap("rollback", rollback)
    api._payouts_metrics = True
    return client
