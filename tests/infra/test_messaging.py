"""Topics, subscriptions, queues and schedules: everything the code names exists in infra/,
nothing in infra/ is unused, and every deadline is longer than the work it waits for."""

from __future__ import annotations

import re

import pytest

from shared import topology
from shared.settings import Settings
from tests.infra import codefacts, tfmodel
from tests.infra.codefacts import CAPABILITIES

infra = tfmodel.load()
SPECS = {spec.name: spec for spec in topology.FUNCTIONS}
PUBSUB_SPECS = [s for s in topology.FUNCTIONS if s.trigger == "pubsub"]
TASK_SPECS = [s for s in topology.FUNCTIONS if s.trigger == "task"]


def seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return int(match.group(1))


# --- Pub/Sub ---------------------------------------------------------------------------------------


def test_topics_are_exactly_the_topology_topics():
    assert sorted(infra.locals["topics"]) == sorted(topology.all_topics())
    assert infra.resource("google_pubsub_topic", "topic")["for_each"] == "${toset(local.topics)}"


def test_code_publishes_only_to_declared_outbound_topics():
    assert codefacts.published_topics() <= set(topology.OUTBOUND_TOPICS)


def test_one_push_subscription_per_pubsub_function_named_as_the_topology_names_it():
    subscriptions = infra.locals["subscriptions"]
    wanted = {topology.subscription_for(spec): spec for spec in PUBSUB_SPECS}
    assert set(subscriptions) == set(wanted), "subscriptions differ from shared.topology.subscription_for"
    for sub_id, spec in wanted.items():
        sub = subscriptions[sub_id]
        assert sub["topic"] == spec.topic
        assert sub["function"] == spec.name
    assert infra.resource("google_pubsub_subscription", "push")["for_each"] == "${local.subscriptions}"


def test_push_subscriptions_deliver_to_the_function_with_an_id_token():
    push = infra.resource("google_pubsub_subscription", "push")
    config = push["push_config"][0]
    assert config["push_endpoint"].startswith("${local.function_urls[each.value.function]}/projects/")
    assert config["push_endpoint"].endswith("/topics/${each.value.topic}"), (
        "functions-framework reads the topic"
    )
    token = config["oidc_token"][0]
    assert token["service_account_email"] == "${google_service_account.pubsub_push.email}"
    assert token["audience"] == "${local.function_urls[each.value.function]}"
    assert push["expiration_policy"][0]["ttl"] == "", "a quiet subscription must never expire"
    retry = push["retry_policy"][0]
    assert seconds(retry["minimum_backoff"]) < seconds(retry["maximum_backoff"]) <= 600


@pytest.mark.parametrize("spec", PUBSUB_SPECS, ids=lambda s: s.name)
def test_pubsub_function_finishes_before_the_ack_deadline(spec):
    sub = infra.locals["subscriptions"][topology.subscription_for(spec)]
    function = infra.functions[spec.name]
    assert function["timeout"] < sub["ack_deadline_seconds"] <= 600, "Pub/Sub would redeliver while it runs"


@pytest.mark.parametrize("spec", PUBSUB_SPECS, ids=lambda s: s.name)
def test_dead_letters_after_a_bounded_number_of_attempts(spec):
    sub = infra.locals["subscriptions"][topology.subscription_for(spec)]
    assert 5 <= sub["max_delivery_attempts"] <= 100
    assert sub["dead_letter_topic"] not in topology.all_topics()
    assert 600 <= seconds(sub["message_retention"]) <= 7 * 86400
    push = infra.resource("google_pubsub_subscription", "push")
    policy = push["dead_letter_policy"][0]
    assert policy["dead_letter_topic"] == "${google_pubsub_topic.dead_letter[each.key].id}"
    assert policy["max_delivery_attempts"] == "${each.value.max_delivery_attempts}"


def test_dead_letter_topics_are_held_and_pubsub_may_use_them():
    assert infra.resource("google_pubsub_topic", "dead_letter")["for_each"] == "${local.subscriptions}"
    assert infra.resource("google_pubsub_subscription", "dead_letter")["for_each"] == "${local.subscriptions}"
    publisher = infra.resource("google_pubsub_topic_iam_member", "dead_letter_publisher")
    subscriber = infra.resource("google_pubsub_subscription_iam_member", "dead_letter_subscriber")
    for grant in (publisher, subscriber):
        assert grant["member"] == "${local.pubsub_service_agent}"
    dead_letters = [s["dead_letter_topic"] for s in infra.locals["subscriptions"].values()]
    assert len(dead_letters) == len(set(dead_letters))


def test_only_functions_that_publish_may_publish_payout_events():
    grant = infra.resource("google_pubsub_topic_iam_member", "payout_events_publisher")
    assert grant["topic"] == '${google_pubsub_topic.topic["payout-events"].id}'
    assert grant["for_each"] == "${{for name, f in local.functions : name => f if f.publishes}}"
    for name, caps in CAPABILITIES.items():
        assert infra.functions[name]["publishes"] == caps.publishes, name


def test_order_service_may_publish_order_events():
    grant = infra.resource("google_pubsub_topic_iam_member", "order_events_publisher")
    assert grant["topic"] == f'${{google_pubsub_topic.topic["{topology.TOPIC_ORDER_EVENTS}"].id}}'
    assert grant["member"] == "serviceAccount:${var.order_service_account}"


# --- Cloud Tasks -----------------------------------------------------------------------------------


def test_queues_are_exactly_the_topology_queues():
    assert sorted(infra.locals["queues"]) == sorted(topology.QUEUES)
    assert infra.resource("google_cloud_tasks_queue", "queue")["for_each"] == "${local.queues}"


def test_each_task_function_has_the_queue_the_code_enqueues_it_on():
    in_code = {function: queue for queue, function in codefacts.enqueue_targets()}
    assert infra.locals["task_queues"] == in_code
    assert set(in_code) == {s.name for s in TASK_SPECS}, "every task-triggered function is enqueued somewhere"
    assert set(in_code.values()) == set(topology.QUEUES), "every queue carries tasks"


@pytest.mark.parametrize("name", sorted(CAPABILITIES))
def test_enqueue_rights_are_exactly_what_the_function_needs(name):
    assert set(infra.functions[name]["enqueues"]) == set(CAPABILITIES[name].enqueues)
    grant = infra.resource("google_cloud_tasks_queue_iam_member", "enqueuer")
    assert grant["role"] == "roles/cloudtasks.enqueuer"
    assert grant["for_each"] == "${local.enqueuer_grants}"
    assert "local.task_queues[t]" in infra.locals["enqueuer_grants"]
    acts_as = infra.resource("google_service_account_iam_member", "enqueuer_acts_as_invoker")
    assert acts_as["service_account_id"] == "${google_service_account.tasks_invoker.name}"
    assert acts_as["role"] == "roles/iam.serviceAccountUser"
    assert "length(f.enqueues) > 0" in acts_as["for_each"]


@pytest.mark.parametrize("spec", TASK_SPECS, ids=lambda s: s.name)
def test_worker_answers_before_the_dispatch_deadline(spec):
    deadline = infra.locals["task_dispatch_deadline_seconds"]
    assert 15 <= deadline <= 1800, "Cloud Tasks accepts 15 s to 30 min"
    assert infra.functions[spec.name]["timeout"] < deadline, "the task would be retried while it still runs"
    assert Settings.model_fields["task_dispatch_deadline_seconds"].default == deadline, (
        "infra sets TASK_DISPATCH_DEADLINE_SECONDS to the code's default; keep them in step"
    )


@pytest.mark.parametrize("spec", TASK_SPECS, ids=lambda s: s.name)
def test_queue_never_dispatches_more_than_its_worker_can_take(spec):
    queue = infra.locals["queues"][infra.locals["task_queues"][spec.name]]
    function = infra.functions[spec.name]
    concurrent = infra.value(queue["max_concurrent_dispatches"])
    assert concurrent <= function["max_instances"] * function["concurrency"]
    for tfvars in sorted((tfmodel.INFRA / "environments").glob("*.tfvars")):
        values = tfmodel.load_tfvars(tfvars)
        high = values.get("max_instances", {}).get(spec.name, function["max_instances"])
        assert infra.value(queue["max_concurrent_dispatches"], values) <= high * function["concurrency"], (
            tfvars.name
        )


@pytest.mark.parametrize("queue", sorted(topology.QUEUES))
def test_retry_configuration(queue):
    q = infra.locals["queues"][queue]
    assert 5 <= q["max_attempts"] <= 100
    assert 1 <= seconds(q["min_backoff"]) < seconds(q["max_backoff"]) <= 3600
    assert 1 <= q["max_doublings"] <= 16
    assert seconds(q["max_retry_duration"]) >= seconds(q["max_backoff"])
    assert 0 < infra.value(q["max_dispatches_per_second"]) <= 500


def test_transfers_stay_under_the_provider_rate_limit_and_outlive_its_timeout():
    transfers = infra.locals["queues"][topology.QUEUE_TRANSFERS]
    assert transfers["max_dispatches_per_second"] == "${var.transfer_dispatches_per_second}"
    for worker in ("transfer-worker", "payout-sweeper"):
        connect = 2  # shared/adapters/providers/sandbox.py: (connect, read) timeouts
        assert infra.var_default("provider_timeout_seconds") + connect < infra.functions[worker]["timeout"]


# --- Cloud Scheduler -------------------------------------------------------------------------------

# Scheduled topics and the longest a tick may take to fire.
SCHEDULED = {
    topology.TOPIC_PAYOUT_RUNS: "daily",
    topology.TOPIC_RELEASE_FUNDS: "hourly",
    topology.TOPIC_SWEEPER: "every 5 minutes",
    topology.TOPIC_RECONCILIATION: "daily",
}
PERIOD = {"daily": 86400, "hourly": 3600, "every 5 minutes": 300}


def cron_period(schedule: str) -> int:
    minute, hour, *_ = schedule.split()
    if minute.startswith("*/"):
        return int(minute[2:]) * 60
    if hour == "*":
        return 3600
    return 86400


def test_every_tick_topic_is_scheduled():
    schedules = infra.locals["schedules"]
    by_topic = {job["topic"]: job for job in schedules.values()}
    assert set(by_topic) == set(SCHEDULED)
    assert len(by_topic) == len(schedules), "two jobs on one topic"
    job = infra.resource("google_cloud_scheduler_job", "tick")
    assert job["for_each"] == "${local.schedules}"
    target = job["pubsub_target"][0]
    assert target["topic_name"] == "${google_pubsub_topic.topic[each.value.topic].id}"
    # {} : the payout run's run_date is omitted (today, UTC), and the ticks carry nothing.
    assert target["data"] == '${base64encode("{}")}'
    assert job["time_zone"] == "Etc/UTC"


@pytest.mark.parametrize("topic", sorted(SCHEDULED))
def test_schedules_fire_as_often_as_intended_and_runs_never_overlap(topic):
    job = next(j for j in infra.locals["schedules"].values() if j["topic"] == topic)
    schedule = infra.value(job["schedule"])
    period = cron_period(schedule)
    assert period == PERIOD[SCHEDULED[topic]], f"{topic}: {schedule}"
    consumer = next(s for s in PUBSUB_SPECS if s.topic == topic)
    assert infra.functions[consumer.name]["timeout"] < period


def test_payout_run_message_is_a_valid_run_request():
    from functions.payout_runs import RunMessage

    assert RunMessage.model_validate_json(b"{}").run_date is None
