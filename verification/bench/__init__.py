"""Benchmark of the payout platform on the local stack (a command, not a timed test).

    .venv/bin/python -m verification.bench [--sizes 1000,10000] [--large] [--out bench-results/]
        [--concurrency 1,8,32] [--parts e2e,workers,http] [--keep]

It starts its own stack (``--port-offset``: STACK_PORT_OFFSET, else 600; state in
``/tmp/bench-stack``, ``/tmp/bench-stack-<offset>`` at another offset) with
``PAYOUTS_METRICS_FILE`` set, so every function process counts its operations at the adapter
boundary (``shared/metrics.py``), runs the parts below, stops the stack, prints tables (rich)
and writes everything to ``<out>/bench-<UTC time>.json``. The numbers of a 2-core machine shared
with other work are noisy; compare shapes and ratios, and rerun for absolute figures.

1. **End-to-end runs** (``e2e``), at each size N (default 1,000 and 10,000; 50,000 with
   ``--large``): the Firestore project is wiped and the sandbox reset, N sellers in nine
   countries are onboarded and funded **in-process through the use cases** against the stack's
   Firestore project (``put_seller``, then ``ingest_order_event`` for an ``order_line.paid`` and an
   ``order_line.return_window_closed`` event per seller, 16 threads: the same code the
   ``sellers-api`` and ``order-events`` functions run, without the HTTP hop). The sandbox's
   ``settle_delay_ms`` is set low (``--settle-delay-ms``, default 200: long enough that the
   transfer worker records ``processing`` before ``paid`` arrives, as with a real provider).
   An unrecorded warm-up run (``--warmup``, 100 sellers) first lets the emulators' JVMs and the
   functions warm up. Then the run is triggered through Pub/Sub as Cloud Scheduler would, and
   the bench polls Firestore. Phases, each timed from the trigger: eligibility and fan-out (every shard page
   done), transfers (every payout ``processing`` or beyond), settlement by webhook (every payout
   final). Throughput = payouts settled / seconds from trigger to the last final payout.
2. **Workers driven directly** (``workers``), at each concurrency (default 1, 8, 32), with both
   Cloud Tasks queues paused: ``transfer-worker`` gets POSTs exactly as Cloud Tasks sends them
   (``X-CloudTasks-TaskName/QueueName/TaskRetryCount/TaskExecutionCount``, the JSON body, an OIDC
   token of the ``tasks-invoker`` identity) for pending payouts created in-process with
   ``PayoutService.create_in_tx`` (nothing enqueued); the provider is told not to settle during
   the measure. ``run-shard-worker`` gets the pages of a run document written in-process
   (``--shard-buckets`` buckets, so that concurrency has pages to work on); a full page's next
   page is posted when it appears.
3. **Baselines, side by side**: for each transfer-worker level, bare Firestore transactions of
   the same shape as one transfer-worker call (the transactions, in-transaction reads and writes,
   plain reads and writes it was *counted* doing) at the same concurrency, with the raw client
   and no application code: the ratio is app payouts/s / bare units/s. And (``http``)
   ``POST /payouts`` latency under concurrent load against a no-op HTTP function served by an
   extra functions-framework process started with the stack's flags (``--host 127.0.0.1``, no
   ``--debug``): p50 and p99 ratios.
4. **Operations per payout**, counted: Firestore document reads and writes, transactions and
   their retries, Cloud Tasks created, Pub/Sub messages, provider calls, per settled payout
   (summed over every function process) and per order event ingested (in the bench process,
   same adapters). From them, an estimated GCP cost per 1,000,000 payouts at list prices (table
   ``PRICES`` below, printed with the result) beside a hosted provider's payout fee.
5. **Scaling**: time and operations at each size, and the growth exponent between sizes
   (log-log slope: 1.0 is linear).
6. **Memory**: peak RSS of each process group (gunicorn master + worker, emulators) sampled
   every 0.5 s during the largest run, and each process's VmHWM at the end. CPU seconds of
   each process during each run come from ``/proc/<pid>/stat``.

Minimum document writes per settled payout that the ledger and state-machine design needs
(each transition is one transaction that writes the payout, its postings and its outbox event):

- creation (run shard):   payout, journal entry, balance shard (available -> in_flight, one
                          shard with two increments), outbox ``payout.created``, run item   = 5
- processing (transfer):  payout, outbox ``payout.processing``                               = 2
- paid (webhook):         payout, journal entry, balance shard (in_flight out), outbox
                          ``payout.paid``, provider-event dedupe document                    = 5
- outbox ``published`` marks, one per event                                                  = 3
                                                                                       total = 15

The code also writes, by design, the transfer claim (``transfer_started_at``, which makes cancel
impossible once the provider may have been called) and, per page of up to 100 sellers, the page
document (created, then marked done). The bench prints what the code actually wrote per settled
payout, per function, against this minimum, and the ratio.

JSON (``schema`` ``payouts-bench/1``)::

    {"schema", "started_at", "finished_at", "host": {cpus, loadavg_start, loadavg_end, python},
     "args": {...}, "prices": {...},
     "e2e": [{"sellers", "run_id", "payouts", "settled", "timed_out", "seconds", "payouts_per_s",
              "phases": {"fan_out"|"transfers"|"settlement": {"at_s", "per_s"}},
              "seed": {"sellers_per_s", "events", "events_per_s", "ops_per_event": {...}},
              "ops": {...totals}, "ops_per_payout": {...}, "ops_by_function": {fn: {...}},
              "writes_vs_minimum": {"minimum", "actual", "ratio", "by_function": {...}},
              "invocations_per_payout", "cpu_seconds": {process: s}, "machine_cpu_busy",
              "function_cpu_seconds_per_payout", "cost": {...}}],
     "scaling": [{"from", "to", "time_exponent", "ops_exponent", "reads_exponent", "writes_exponent"}],
     "workers": {"transfer": [{"concurrency", "calls", "seconds", "per_s", "p50_ms", "p99_ms",
                               "statuses", "ops_per_call", "bare": {"shape", "units", "per_s"},
                               "ratio_to_bare"}],
                 "shard": [{"concurrency", "pages", "payouts", "seconds", "payouts_per_s",
                            "pages_per_s", "p50_ms", "p99_ms", "statuses", "ops_per_payout"}]},
     "http": [{"concurrency", "requests", "payouts_api": {p50_ms, p99_ms, per_s, statuses},
               "noop": {...}, "p50_ratio", "p99_ratio"}],
     "memory": {"window", "processes": {name: {"peak_rss_mb", "vmhwm_mb": {pid: mb}}}},
     "cost": {...the largest run's estimate}}

Modules: ``cli`` (arguments), ``runner`` (the parts in order, the JSON result), ``bench_stack``
(its own stack), ``context`` (what the parts share, resets), ``seeding`` (sellers and their money),
``e2e``, ``transfer_worker``, ``bare_transactions``, ``shard_worker``, ``http_latency`` (one per
part), ``load`` (tokens, task headers, timed calls, latency), ``counters`` (operations counted),
``processes`` (CPU and memory from /proc), ``cost`` and ``prices``, ``scaling``, ``report``
(the tables), ``console``.
"""
