"""The provider's webhooks delivered again: some settled transfers' mid-run, and every delivered
one "days later" (fresh signatures). Nothing may change."""

from __future__ import annotations

from verification.faults.context import FaultContext


def replay_some(ctx: FaultContext, run_id: str) -> None:
    refs = ctx.reads.settled_provider_refs(run_id)
    picked = ctx.rng.sample(refs, k=min(len(refs), ctx.plan.replay_sample))
    replayed = 0
    for ref in picked:
        resp = ctx.client.sandbox("POST", "/v1/_replay_webhooks", {"transfer_id": ref})
        replayed += int(resp.json().get("replayed", 0)) if resp.status_code == 200 else 0
    ctx.fault("webhook_replay_mid_run", replayed)
    ctx.say(f"replayed {replayed} webhooks of {len(picked)} settled transfers")


def replay_all(ctx: FaultContext) -> None:
    """Days later: the provider sends every delivered webhook again (fresh signatures)."""
    before = ctx.reads.payout_states()
    resp = ctx.client.sandbox("POST", "/v1/_replay_webhooks", {})
    replayed = int(resp.json()["replayed"])
    ctx.fault("webhook_replay_days_later", replayed)

    def delivered() -> bool:
        # Each replayed delivery ends in exactly one "delivered" or "gave_up" entry of the
        # (append-only) log; a "retry_scheduled" entry stays there after its retry succeeds.
        log = ctx.client.sandbox("GET", "/v1/_webhooks").json()["data"]
        done = sum(1 for e in log if e["replay"] and e["result"] in ("delivered", "gave_up"))
        return done >= ctx.faults["webhook_replay_days_later"] + ctx.faults["webhook_replay_mid_run"]

    ctx.wait_for(delivered, "replayed webhooks delivered", 180, 1.0)
    after = ctx.reads.payout_states()
    changed = sorted(pid for pid in before if before[pid] != after.get(pid))
    if changed:
        ctx.breaches.append(f"replayed webhooks changed {len(changed)} payouts: {changed[:3]}")
    ctx.say(f"replayed all {replayed} delivered webhooks: {len(changed)} payouts changed")
