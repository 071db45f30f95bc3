"""The operation counters of shared/metrics.py: off by default, exact under threads, one file per
process, and Firestore RPCs counted without changing what the client sees."""

from __future__ import annotations

import json
import os
import threading
import time
from types import SimpleNamespace

import pytest

from shared import metrics


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    monkeypatch.delenv(metrics.ENV, raising=False)
    monkeypatch.setattr(metrics, "_enabled", False)
    metrics.reset()
    yield
    metrics.reset()


def test_counting_is_off_unless_asked_for():
    metrics.incr("firestore.reads")
    assert metrics.snapshot() == {}
    metrics.enable()
    metrics.incr("firestore.reads", 3)
    assert metrics.snapshot() == {"firestore.reads": 3}


def test_counts_are_exact_across_threads_and_deltas_drop_what_did_not_move():
    metrics.enable()
    metrics.incr("untouched")
    before = metrics.snapshot()

    def work():
        for _ in range(2000):
            metrics.incr("firestore.writes")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert metrics.delta(metrics.snapshot(), before) == {"firestore.writes": 16000}


def test_each_process_dumps_its_counters_to_its_own_file(tmp_path, monkeypatch):
    base = tmp_path / "counters"
    monkeypatch.setenv(metrics.ENV, str(base))
    monkeypatch.setenv("FUNCTION_NAME", "transfer-worker")
    metrics.enable()
    metrics.incr("tasks.created", 2)
    metrics.dump()
    path = tmp_path / f"counters.{os.getpid()}.json"
    body = json.loads(path.read_text())
    assert body["function"] == "transfer-worker"
    assert body["counters"] == {"tasks.created": 2}
    # another process of the same function (gunicorn master + worker) adds up
    (tmp_path / "counters.1.json").write_text(
        json.dumps({"pid": 1, "function": "transfer-worker", "counters": {"tasks.created": 1, "x": 5}})
    )
    totals = metrics.totals_by_function(metrics.read_dumps(base))
    assert totals == {"transfer-worker": {"tasks.created": 3, "x": 5}}


def test_the_dumper_thread_writes_soon_after_an_increment(tmp_path, monkeypatch):
    base = tmp_path / "counters"
    monkeypatch.setenv(metrics.ENV, str(base))
    metrics.enable()
    metrics.incr("pubsub.messages")
    path = metrics.dump_path()
    assert path is not None
    deadline = time.monotonic() + 5
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert json.loads(path.read_text())["counters"] == {"pubsub.messages": 1}


def test_a_forked_child_starts_from_zero():
    metrics.enable()
    metrics.incr("firestore.reads", 7)
    pid = os.fork()
    if pid == 0:  # the child: inherited counts are the parent's, not its own
        os._exit(0 if metrics.snapshot() == {} else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert metrics.snapshot() == {"firestore.reads": 7}


class Snap:
    def __init__(self, exists: bool) -> None:
        self.exists = exists


class FakeQuery:
    def __init__(self, results, n=0):
        self.results, self.n = results, n

    def stream(self):
        return iter(self.results)

    def count(self, alias):
        return SimpleNamespace(get=lambda: [[SimpleNamespace(value=self.n)]])


class FakeRef:
    def __init__(self):
        self.writes = []

    def get(self):
        return Snap(True)

    def update(self, data):
        self.writes.append(data)


class FakeClient:
    def get_all(self, refs, transaction=None):
        return iter([Snap(True), Snap(False)][: len(refs)])


def test_the_firestore_adapter_counts_each_call_as_firestore_bills_it():
    """Counted where the adapter calls the client (shared/adapters/firestore/calls.py): no patch
    of the client's private API."""
    from shared.adapters.firestore.calls import Calls

    metrics.enable()
    calls = Calls(FakeClient())
    assert [s.exists for s in calls.get_all(["a", "b"])] == [True, False]
    calls.get(FakeRef())
    assert len(calls.stream(FakeQuery([1, 2]))) == 2
    assert calls.stream(FakeQuery([])) == []  # an empty result is billed one read
    assert calls.count(FakeQuery([], n=7)) == 7
    ref = FakeRef()
    calls.update(ref, {"x": 1})
    assert ref.writes == [{"x": 1}]
    assert metrics.snapshot() == {
        "firestore.reads": 2 + 1 + 2 + 1 + 1,
        "firestore.reads_missing": 1,
        "firestore.queries": 2,
        "firestore.aggregations": 1,
        "firestore.commits": 1,
        "firestore.writes": 1,
    }


def test_nothing_is_counted_when_counting_is_off():
    from shared.adapters.firestore.calls import Calls

    Calls(FakeClient()).get_all(["a"])
    assert metrics.snapshot() == {}
