"""A seeded fault-injection run of the whole payout cycle, judged by the auditor.

    .venv/bin/python -m verification.faults --seed 7 [--sellers 1000] [--short] [--keep]
    .venv/bin/python -m verification.faults --seed 7 --plan-only [--plan-out plan.json]

It starts its own stack (port offset and state directory of its own, never the usual one),
onboards sellers in every supported country (some with bank accounts the sandbox fails or
returns), sends thousands of order events, runs payout runs, and meanwhile injects faults, all
drawn from ``random.Random(seed)``: the same seed gives the same plan (written to
``<state-dir>/plan.json`` and summarised at the start).

Faults: Pub/Sub redeliveries of order events and run triggers, some concurrent with the same
message id; the same transfer task delivered 2-10 times, at once or one after another; sandbox
5xx bursts, latency, timeouts after accepting, duplicate, out-of-order and dropped webhooks,
webhooks replayed "days later"; two starts of the same run at the same instant; SIGKILL of a
function mid-shard, mid-transfer, mid-flood; a hot seller flooded with hundreds of events; refunds
landing while the seller's payout is in flight. Then it drains (sweeper ticks, as Cloud Scheduler
would send them) until every payout is final, and audits (verification/auditor/).

It prints the seed, the faults injected per kind, the payouts, ``double payouts``, ``lost
payouts`` and ``ledger imbalance``, and exits 1 on any breach.

Modules: ``plan`` (the seeded plan; ``seller_profiles``, ``order_events``), ``runner`` (the
phases in order, the isolated stack), ``context`` (what the phases share), ``delivery`` (Pub/Sub,
push, webhook), ``order_flow``, one module per fault (``run_starts``, ``transfer_duplicates``,
``inflight_refunds``, ``process_kills``, ``webhook_replays``; provider bursts and kills are
timed by ``payout_phase``), ``drain``, ``store_reads``, ``outcome_checks``, ``observations``,
``report`` (with ``findings``), ``cli``.
"""
