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

- ``firestore.*``, counted where the Firestore adapter calls the client (the one wrapper
  ``shared/adapters/firestore/calls.py``): ``reads`` (documents returned by lookups and queries,
  a missing document counts as one read as Firestore bills it, a query that returns nothing
  counts one), of which ``reads_in_tx`` inside a transaction and ``reads_missing``; ``queries``;
  ``aggregations`` (count queries, billed one read per 1,000 index entries, counted as one);
  ``writes`` (document writes in commits: a set, create, update or a set with server-side
  increments is one write), of which ``writes_in_tx``; ``commits``, ``tx_begun`` (transaction
  attempts), ``rollbacks``.
- ``firestore.transactions`` (units of work, ``FirestoreStore.atomically``) and
  ``firestore.tx_attempts`` (runs of the transaction body): retries = attempts - transactions.
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
from collections.abc import Iterable
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
