"""The same transfer task delivered 2-10 times: at once, one after another, or the first alone
and the rest at once after it (Cloud Tasks delivers at least once)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from verification.faults.context import FaultContext


def deliver_transfer_task(ctx: FaultContext, payout_id: str, copies: int, mode: str) -> None:
    def once() -> int:
        try:
            code = ctx.worker.call(
                "POST", "transfer-worker", "/", {"payout_id": payout_id}, timeout=60
            ).status_code
        except requests.RequestException:
            code = 0
        ctx.delivery.count_answer(f"transfer task {code}")
        return code

    if mode == "concurrent":
        with ThreadPoolExecutor(max_workers=copies) as pool:
            list(pool.map(lambda _: once(), range(copies)))
    elif mode == "sequential":
        for _ in range(copies):
            once()
    else:  # the first alone, the rest at once after it finished
        once()
        with ThreadPoolExecutor(max_workers=copies) as pool:
            list(pool.map(lambda _: once(), range(copies - 1)))
    ctx.fault(f"transfer_task_duplicate_{mode}", copies)
