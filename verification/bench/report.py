"""The benchmark's tables (rich), one per part, printed after the run from its JSON result."""

from __future__ import annotations

import os
from typing import Any

from rich.table import Table

from verification.bench.console import console
from verification.bench.prices import PRICES

JSON = dict[str, Any]


def print_report(r: JSON) -> None:
    console.rule("[bold]Results")
    if r.get("e2e"):
        console.print(e2e_table(r["e2e"]))
        console.print(events_table(r["e2e"]))
        largest = max(r["e2e"], key=lambda x: x["sellers"])
        if largest["writes_vs_minimum"]:
            console.print(writes_table(largest))
        console.print(cpu_table(largest))
    if r.get("scaling"):
        console.print(scaling_table(r["scaling"]))
    workers = r.get("workers") or {}
    if workers.get("transfer"):
        console.print(transfer_table(workers["transfer"]))
    if workers.get("shard"):
        console.print(shard_table(workers["shard"]))
    if r.get("http"):
        console.print(http_table(r["http"]))
    if r.get("rails"):
        console.print(rails_table(r["rails"]))
    if r.get("tracing"):
        console.print(tracing_table(r["tracing"]))
    mem = r.get("memory") or {}
    if mem.get("processes"):
        console.print(memory_table(mem))
    if r.get("cost"):
        console.print(cost_table(r["cost"]))


def _statuses(statuses: dict[str, int]) -> str:
    return " ".join(f"{code}x{n}" for code, n in sorted(statuses.items()))


def _f(v: Any, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def e2e_table(runs: list[JSON]) -> Table:
    t = Table(title="End-to-end payout runs (seconds from the trigger)")
    for col in (
        "sellers",
        "settled",
        "seconds",
        "payouts/s",
        "fan-out at",
        "transfers at",
        "settled at",
        "reads",
        "writes",
        "tx",
        "tx retries",
        "tasks",
        "pubsub",
        "provider",
        "timed out",
    ):
        t.add_column(col, justify="right")
    for e in runs:
        p, ph = e["ops_per_payout"], e["phases"]
        t.add_row(
            _f(e["sellers"]),
            _f(e["settled"]),
            _f(e["seconds"], 1),
            _f(e["payouts_per_s"], 1),
            *(_f(ph.get(k, {}).get("at_s"), 1) for k in ("fan_out", "transfers", "settlement")),
            *(
                _f(p.get(k))
                for k in (
                    "firestore_reads",
                    "firestore_writes",
                    "firestore_transactions",
                    "firestore_tx_retries",
                    "tasks_created",
                    "pubsub_messages",
                )
            ),
            _f(p.get("provider_calls", 0) + p.get("provider_webhooks", 0)),
            str(e["timed_out"]),
        )
    t.caption = (
        "operations are per settled payout, summed over every function process; provider = calls + webhooks"
    )
    return t


def events_table(runs: list[JSON]) -> Table:
    t = Table(title="Operations per order event ingested (in-process, same use case and adapters)")
    for col in ("sellers", "events/s", "reads", "writes", "tx", "tx retries", "commits"):
        t.add_column(col, justify="right")
    for e in runs:
        s = e["seed"]["ops_per_event"]
        t.add_row(
            _f(e["sellers"]),
            _f(e["seed"]["events_per_s"], 1),
            *(
                _f(s.get(k))
                for k in (
                    "firestore_reads",
                    "firestore_writes",
                    "firestore_transactions",
                    "firestore_tx_retries",
                    "firestore_commits",
                )
            ),
        )
    return t


def writes_table(e: JSON) -> Table:
    w = e["writes_vs_minimum"]
    t = Table(title=f"Firestore writes per settled payout vs the design's minimum ({e['sellers']:,} sellers)")
    for col in ("function", "actual", "minimum"):
        t.add_column(col, justify="right")
    for fn, row in w["by_function"].items():
        t.add_row(fn, _f(row["actual"], 3), _f(row["minimum"]))
    t.add_row("[bold]total", f"[bold]{w['actual']:.3f}", f"[bold]{w['minimum']}")
    t.caption = f"ratio actual / minimum = {w['ratio']}"
    return t


def cpu_table(e: JSON) -> Table:
    t = Table(
        title=f"CPU seconds during the run over {e['sellers']:,} sellers ({e['seconds']} s; the machine "
        f"({os.cpu_count()} cores) was {e['machine_cpu_busy']:.0%} busy, other work included)"
    )
    t.add_column("process")
    t.add_column("CPU s", justify="right")
    t.add_column("share of one core", justify="right")
    for name, s in sorted(e["cpu_seconds"].items(), key=lambda kv: -kv[1]):
        t.add_row(name, _f(s), f"{s / e['seconds']:.0%}" if e["seconds"] else "-")
    return t


def scaling_table(rows: list[JSON]) -> Table:
    t = Table(title="Scaling (log-log slope between sizes; 1.0 = linear)")
    for col in ("from", "to", "time", "reads+writes", "reads", "writes"):
        t.add_column(col, justify="right")
    for s in rows:
        t.add_row(
            _f(s["from"]),
            _f(s["to"]),
            *(_f(s[k], 3) for k in ("time_exponent", "ops_exponent", "reads_exponent", "writes_exponent")),
        )
    return t


def transfer_table(rows: list[JSON]) -> Table:
    t = Table(title="transfer-worker driven directly vs bare Firestore transactions of the same shape")
    for col in ("c", "calls", "payouts/s", "p50 ms", "p99 ms", "statuses", "bare units/s", "app / bare"):
        t.add_column(col, justify="right")
    for w in rows:
        t.add_row(
            _f(w["concurrency"]),
            _f(w["calls"]),
            _f(w["per_s"], 1),
            _f(w["p50_ms"], 1),
            _f(w["p99_ms"], 1),
            _statuses(w["statuses"]),
            _f(w["bare"]["per_s"], 1),
            _f(w["ratio_to_bare"], 3),
        )
    shape = rows[0]["bare"]["shape"]
    t.caption = "bare unit = " + ", ".join(f"{k} {v}" for k, v in shape.items())
    return t


def shard_table(rows: list[JSON]) -> Table:
    t = Table(title="run-shard-worker driven directly")
    for col in (
        "c",
        "pages",
        "payouts",
        "payouts/s",
        "pages/s",
        "page p50 ms",
        "page p99 ms",
        "statuses",
    ):
        t.add_column(col, justify="right")
    for w in rows:
        t.add_row(
            _f(w["concurrency"]),
            _f(w["pages"]),
            _f(w["payouts"]),
            _f(w["payouts_per_s"], 1),
            _f(w["pages_per_s"], 1),
            _f(w["p50_ms"], 1),
            _f(w["p99_ms"], 1),
            _statuses(w["statuses"]),
        )
    return t


def http_table(rows: list[JSON]) -> Table:
    t = Table(title="POST /payouts vs a no-op function on functions-framework (latency)")
    for col in (
        "c",
        "requests",
        "app p50",
        "app p99",
        "app/s",
        "no-op p50",
        "no-op p99",
        "no-op/s",
        "p50 ratio",
        "p99 ratio",
        "app statuses",
    ):
        t.add_column(col, justify="right")
    for h in rows:
        a, n = h["payouts_api"], h["noop"]
        t.add_row(
            _f(h["concurrency"]),
            _f(h["requests"]),
            _f(a["p50_ms"], 1),
            _f(a["p99_ms"], 1),
            _f(a["per_s"], 1),
            _f(n["p50_ms"], 1),
            _f(n["p99_ms"], 1),
            _f(n["per_s"], 1),
            _f(h["p50_ratio"], 1),
            _f(h["p99_ratio"], 1),
            _statuses(a["statuses"]),
        )
    return t


def memory_table(mem: JSON) -> Table:
    t = Table(title=f"Memory: peak RSS during the {mem['window']}; VmHWM of each pid at the end")
    for col in ("process", "peak RSS MB (group)", "VmHWM MB per pid"):
        t.add_column(col, justify="right")
    for name, m in sorted(mem["processes"].items(), key=lambda kv: -(kv[1]["peak_rss_mb"] or 0)):
        t.add_row(name, _f(m["peak_rss_mb"], 0), ", ".join(f"{v:.0f}" for v in m["vmhwm_mb"].values()))
    return t


def cost_table(cost: JSON) -> Table:
    t = Table(title=f"Estimated GCP cost per 1,000,000 settled payouts ({cost['from_run']})")
    t.add_column("item")
    t.add_column("USD", justify="right")
    t.add_column("price table")
    names = {
        "firestore": "firestore",
        "cloud_tasks": "cloud_tasks",
        "pubsub": "pubsub",
        "functions_invocations": "functions",
        "functions_compute_low": "functions",
        "functions_compute_high": "functions",
    }
    for item, usd in cost["per_million_payouts_usd"].items():
        t.add_row(item, _f(usd), PRICES[names[item]]["table"] if item in names else "")
    t.add_row(
        "[bold]hosted provider fee",
        f"[bold]{cost['hosted_provider_per_million_usd']:,.0f}",
        PRICES["hosted_provider"]["table"] + f", at an average payout of USD {cost['avg_payout_usd']:.0f}",
    )
    t.caption = "; ".join(cost["assumptions"])
    return t


def rails_table(rails: dict[str, JSON]) -> Table:
    t = Table(title="Per rail: a run of one country routed to each rail (per settled payout)")
    for col in ("rail", "sellers", "settled", "seconds", "payouts/s", "reads", "writes", "tx", "tasks",
                "provider calls", "webhooks", "timed out"):  # fmt: skip
        t.add_column(col, justify="right")
    for rail, e in rails.items():
        p = e["ops_per_payout"]
        t.add_row(
            rail,
            _f(e["sellers"]),
            _f(e["settled"]),
            _f(e["seconds"], 1),
            _f(e["payouts_per_s"], 1),
            *(_f(p.get(k)) for k in ("firestore_reads", "firestore_writes", "firestore_transactions")),
            _f(p.get("tasks_created")),
            _f(p.get("provider_calls")),
            _f(p.get("provider_webhooks")),
            str(e["timed_out"]),
        )
    t.caption = (
        "sandbox: FR sellers; adyen: SE sellers (through Prism); stripe: PL sellers with connected accounts"
    )
    return t


def tracing_table(rows: list[JSON]) -> Table:
    t = Table(title="Tracing's overhead on POST /payouts (the same function, traced and not, side by side)")
    for col in ("concurrency", "requests a side", "traced p50 ms", "untraced p50 ms", "overhead p50",
                "traced p99 ms", "untraced p99 ms", "CPU ms/request traced / untraced"):  # fmt: skip
        t.add_column(col, justify="right")
    for row in rows:
        cpu = row["cpu_ms_per_request"]
        t.add_row(
            _f(row["concurrency"]),
            _f(row["requests_per_side"]),
            _f(row["traced"]["p50_ms"]),
            _f(row["untraced"]["p50_ms"]),
            f"{row['overhead_p50_percent']:+.1f} %",
            _f(row["traced"]["p99_ms"]),
            _f(row["untraced"]["p99_ms"]),
            f"{cpu['traced']} / {cpu['untraced']}",
        )
    t.caption = "target: under 5 % at p50 (issue 19)"
    return t
