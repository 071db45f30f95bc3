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


class FakeApi:
    """The shape of the GAPIC Firestore client the real Client calls."""

    def batch_get_documents(self, request, metadata=None):
        return iter([{"found": 1}, {"missing": "x"}, {"read_time": 1}])

    def run_query(self, request, metadata=None):
        return iter(request.get("results", []))

    def run_aggregation_query(self, request, metadata=None):
        return iter([{"result": 1}])

    def commit(self, request, metadata=None):
        return SimpleNamespace(write_results=request["writes"])

    def begin_transaction(self, request, metadata=None):
        return SimpleNamespace(transaction=b"t1")

    def rollback(self, request, metadata=None):
        return None


def test_firestore_rpcs_are_counted_and_their_results_unchanged():
    metrics.enable()
    client = metrics.instrument_firestore(SimpleNamespace(_firestore_api=FakeApi()))
    api = client._firestore_api
    assert list(api.batch_get_documents(request={"documents": ["a", "b"]})) == [
        {"found": 1},
        {"missing": "x"},
        {"read_time": 1},
    ]
    list(api.batch_get_documents(request={"transaction": b"t1"}))
    list(api.run_query(request={"results": [{"document": 1}, {"document": 2}, {"skipped_results": 1}]}))
    list(api.run_query(request={"results": []}))  # an empty result is billed one read
    list(api.run_aggregation_query(request={}))
    assert api.commit(request={"writes": [1, 2, 3]}).write_results == [1, 2, 3]
    api.commit(request={"writes": [1, 2], "transaction": b"t1"})
    api.begin_transaction(request={})
    api.rollback(request={})
    assert metrics.snapshot() == {
        "firestore.reads": 2 + 2 + 2 + 1 + 1,
        "firestore.reads_in_tx": 2,
        "firestore.reads_missing": 2,
        "firestore.queries": 2,
        "firestore.aggregations": 1,
        "firestore.commits": 2,
        "firestore.writes": 5,
        "firestore.writes_in_tx": 2,
        "firestore.tx_begun": 1,
        "firestore.rollbacks": 1,
    }
    # wrapping twice does not count twice
    metrics.instrument_firestore(client)
    metrics.reset()
    api.commit(request={"writes": [1]})
    assert metrics.snapshot()["firestore.writes"] == 1


def test_instrumenting_is_skipped_when_counting_is_off():
    fake = FakeApi()
    client = metrics.instrument_firestore(SimpleNamespace(_firestore_api=fake))
    assert client._firestore_api.commit.__func__ is FakeApi.commit
