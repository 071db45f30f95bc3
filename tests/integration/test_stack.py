"""The local stack itself: it starts, every part answers, Pub/Sub and Cloud Tasks deliver, and it stops clean."""

from __future__ import annotations

import base64
import json
import os
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from google.cloud import pubsub_v1, tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from local_stack.stack import EMULATORS, Stack, StackError, _group_members, port_free
from shared.topology import FUNCTIONS, all_topics, subscription_for
from tests.support.commands import run_module

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# The second stack, started and stopped here, sits this far above the session stack's ports.
# Beside the session's stack, wherever that one is (STACK_PORT_OFFSET moves it).
SECOND_STACK_OFFSET = int(os.environ.get("STACK_TEST_PORT_OFFSET", "1000")) + int(
    os.environ.get("STACK_PORT_OFFSET", "0")
)


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[tuple[str, dict[str, str], bytes]]]]:
    """A throwaway HTTP endpoint on 127.0.0.1 recording each POST (path, lower-cased headers, body)."""
    received: queue.Queue[tuple[str, dict[str, str], bytes]] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.put((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_every_part_of_the_stack_answers(stack):
    assert set(stack.procs) == set(EMULATORS) | {spec.name for spec in FUNCTIONS}
    assert {name: stack.answers(name) for name in stack.procs} == dict.fromkeys(stack.procs, True)


def test_the_state_file_lists_every_part(stack):
    state = json.loads((stack.state_dir / "stack.json").read_text())

    assert state["project"] == stack.project
    assert set(state["emulators"]) == {
        "firestore", "pubsub", "tasks", "sandbox", "push-relay", "adyen", "stripe", "prism-adyen",
        "storage", "bank", "iap-proxy",
    }  # fmt: skip
    for item in state["emulators"].values():
        assert item["host"].startswith("127.0.0.1:")
        assert _group_members(item["pid"]), f"{item['name']} is not running"
    assert {name: item["url"] for name, item in state["functions"].items()} == stack.urls
    for spec in FUNCTIONS:
        assert state["env"]["FUNCTION_URL_" + spec.name.upper().replace("-", "_")] == stack.url(spec.name)
    for key in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "CLOUD_TASKS_EMULATOR_HOST"):
        assert state["env"][key] == os.environ[key]
    assert os.environ["GOOGLE_CLOUD_PROJECT"] == stack.project


def test_every_topic_exists_and_pushes_into_its_function(stack):
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topics = {t.name for t in publisher.list_topics(project=f"projects/{stack.project}")}
    assert {f"projects/{stack.project}/topics/{t}" for t in all_topics()} <= topics

    for spec in FUNCTIONS:
        if spec.trigger != "pubsub":
            continue
        sub = subscriber.get_subscription(
            subscription=subscriber.subscription_path(stack.project, subscription_for(spec))
        )
        topic_path = f"projects/{stack.project}/topics/{spec.topic}"
        assert sub.topic == topic_path
        # Through the push relay, which adds the OIDC token the emulator leaves out (local_stack/push_relay.py).
        relay = f"http://{stack.procs['push-relay'].address}"
        assert sub.push_config.push_endpoint == f"{relay}/push/{spec.name}/{topic_path}"
        assert sub.ack_deadline_seconds == 60


@pytest.mark.parametrize("topic", all_topics())
def test_a_published_message_is_pushed_in_the_envelope_functions_framework_expects(stack, receiver, topic):
    # A subscription of our own on the same topic, so that no function acts on the probe.
    url, received = receiver
    subscriber = pubsub_v1.SubscriberClient()
    topic_path = f"projects/{stack.project}/topics/{topic}"
    name = subscriber.subscription_path(stack.project, f"probe-{uuid.uuid4().hex[:8]}")
    subscriber.create_subscription(
        request={"name": name, "topic": topic_path, "push_config": {"push_endpoint": f"{url}/{topic_path}"}}
    )
    try:
        publisher = pubsub_v1.PublisherClient()
        message_id = publisher.publish(topic_path, b'{"probe": true}', origin="test_stack").result(timeout=10)
        # The topic may carry other messages meanwhile (payout events relayed by the sweeper).
        while True:
            path, _, body = received.get(timeout=10)
            if json.loads(body)["message"]["messageId"] == message_id:
                break
    finally:
        subscriber.delete_subscription(subscription=name)

    envelope = json.loads(body)
    assert path == f"/{topic_path}"
    assert envelope["subscription"] == name
    assert envelope["message"]["messageId"] == message_id
    assert base64.b64decode(envelope["message"]["data"]) == b'{"probe": true}'
    assert envelope["message"]["attributes"] == {"origin": "test_stack"}


def test_a_task_is_dispatched_with_cloud_tasks_headers(stack, receiver):
    url, received = receiver
    channel = grpc.insecure_channel(stack.env["CLOUD_TASKS_EMULATOR_HOST"])
    client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    queue_path = client.queue_path(stack.project, stack.location, f"probe-{uuid.uuid4().hex[:8]}")
    client.create_queue(
        parent=client.common_location_path(stack.project, stack.location), queue={"name": queue_path}
    )
    try:
        task = client.create_task(
            parent=queue_path, task={"http_request": {"url": f"{url}/work", "body": b'{"n": 1}'}}
        )
        path, headers, body = received.get(timeout=10)
    finally:
        client.delete_queue(name=queue_path)
        channel.close()

    assert (path, body) == ("/work", b'{"n": 1}')
    assert headers["x-cloudtasks-queuename"] == queue_path.rsplit("/", 1)[-1]  # short id, as in production
    assert headers["x-cloudtasks-taskname"] == task.name.rsplit("/", 1)[-1]
    assert headers["x-cloudtasks-taskretrycount"] == "0"


def test_a_second_stack_on_taken_ports_is_refused_before_starting_anything(stack, tmp_path):
    with pytest.raises(StackError) as refused:
        Stack.start(ROOT, ports={name: p.port for name, p in stack.procs.items()}, state_dir=tmp_path)
    assert refused.value.exit_code == 2
    assert f"{stack.procs['firestore'].port} (firestore)" in str(refused.value)
    assert not (tmp_path / "stack.json").exists()


def test_a_second_stack_from_the_same_checkout_needs_only_a_port_offset_and_stops_clean(stack, monkeypatch):
    # As the README says: `--port-offset N` alone, no state directory. Its state goes to
    # .local/stack-<N>/, beside the session stack's, and every subcommand finds it by the offset.
    monkeypatch.delenv("STACK_STATE_DIR", raising=False)
    second = Stack.start(ROOT, port_offset=SECOND_STACK_OFFSET)
    try:
        assert second.state_dir == ROOT / ".local" / f"stack-{SECOND_STACK_OFFSET}" != stack.state_dir
        assert second.healthy()
        status = run_module("local_stack.stack", "status", "--port-offset", SECOND_STACK_OFFSET)
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"state {second.state_dir}" in status.stdout
        members = [m for p in second.procs.values() for m in _group_members(p.pid)]
        assert sum(1 for _, command in members if command == "java") == 2  # Firestore and Pub/Sub

        # The fault harness's levers: a crash, then a restart on the same port.
        victim = FUNCTIONS[0].name
        second.kill_function(victim)
        assert not second.answers(victim)
        second.restart_function(victim)
        assert second.answers(victim)
        members += _group_members(second.procs[victim].pid)
    finally:
        second.stop()

    deadline = time.monotonic() + 5
    while alive := [m for m in members if _alive(m[0])]:
        assert time.monotonic() < deadline, f"still running after stop: {alive}"
        time.sleep(0.1)
    assert all(port_free(p.port) for p in second.procs.values())
    assert not (second.state_dir / "stack.json").exists()
    assert stack.healthy(), "stopping the second stack disturbed the session's stack"


def test_status_and_stop_find_the_stack_named_by_stack_state_dir(stack, tmp_path):
    """STACK_STATE_DIR (and --state-dir) name the stack for every subcommand (issue 13, item 13)."""
    by_env = run_module("local_stack.stack", "status", env={"STACK_STATE_DIR": str(stack.state_dir)})
    assert by_env.returncode == 0, by_env.stdout + by_env.stderr
    assert f"state {stack.state_dir}" in by_env.stdout and "DOWN" not in by_env.stdout
    by_flag = run_module("local_stack.stack", "status", "--state-dir", stack.state_dir)
    assert by_flag.returncode == 0 and f"state {stack.state_dir}" in by_flag.stdout
    elsewhere = run_module("local_stack.stack", "stop", env={"STACK_STATE_DIR": str(tmp_path)})
    assert (
        elsewhere.returncode == 0
        and f"no stack is running (no {tmp_path / 'stack.json'})" in elsewhere.stdout
    )
    assert stack.healthy()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
