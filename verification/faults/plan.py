"""The plan of a fault run: every random choice, drawn up front from ``random.Random(seed)``.
The same (seed, sellers, short) gives the same plan; ``now`` only dates the events."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from stand_ins.sample_sellers import COUNTRIES, CURRENCIES, minor_units
from verification.faults.order_events import iso, order_event, paid_data, refund_data
from verification.faults.seller_profiles import EXPECTED_SKIP, PROFILES

JSON = dict[str, Any]
FX_SHARE = 0.2  # the default share of order lines sold on another storefront (issue 17)


@dataclass
class SellerPlan:
    seller_id: str
    country: str
    n: int  # feeds the bank account number
    profile: str


@dataclass
class Plan:
    seed: int
    short: bool
    run_tag: str  # the prefix of every seller id: f<seed>
    sellers: list[SellerPlan]
    events: list[JSON]  # the initial order events, in business order
    routes: dict[str, str]  # event id -> pubsub | webhook | push_burst
    push_burst_copies: dict[str, int]  # event id -> concurrent pushes with one message id
    webhook_dups: dict[str, int]  # event id -> concurrent webhook deliveries
    late_redeliveries: list[str]  # event ids published again after everything was applied
    hot_seller: str
    hot_events: list[JSON]
    inflight_refunds: list[JSON]  # refund events, sent once the seller's payout is in flight
    transfer_dups: list[JSON]  # {"seller_id", "copies", "mode": concurrent | sequential | mixed}
    sandbox: JSON  # the fault config during payouts
    bursts: list[JSON]  # {"at": fraction settled, "error_rate", "seconds"}
    kills: list[JSON]  # {"function", "when", "down_seconds"}
    run_trigger: JSON  # {"publishes", "push_copies", "api_starts"}
    replay_sample: int  # transfers whose webhooks are replayed mid-run
    second_run_events: list[JSON]
    stuck_after_seconds: int
    # Issue 15: SE sellers route to Adyen first and PL sellers (with connected accounts) to
    # Stripe first, beside the sandbox's countries; Adyen's API goes away mid-run.
    mixed_rails: bool = True
    rail_outage: JSON | None = None  # {"rail": "adyen", "at": fraction settled, "seconds"}
    # Issue 16: the first run meets a short account: the sandbox's funds in ``currency`` are set
    # to 1 minor unit before it starts, and topped up once it has waited ``hold_seconds`` (and a
    # sweep has checked it again).
    short_funding: JSON | None = None  # {"rail": "sandbox", "currency": "EUR", "hold_seconds"}
    # Issue 17: the share of order lines sold on another storefront (EUR, or GBP for a euro
    # seller), so that their sellers' payouts convert; their fails and returns convert back.
    fx_share: float = 0.0

    def summary(self) -> list[str]:
        profiles = Counter(s.profile for s in self.sellers)
        modes = Counter(d["mode"] for d in self.transfer_dups)
        return [
            f"plan (seed {self.seed}{', short' if self.short else ''}): {len(self.sellers)} sellers in "
            f"{len({s.country for s in self.sellers})} countries ("
            + ", ".join(f"{n} {p}" for p, n in sorted(profiles.items()))
            + ")",
            f"  order events: {len(self.events)} initial (routes "
            + ", ".join(f"{n} {r}" for r, n in sorted(Counter(self.routes.values()).items()))
            + f"), hot seller {self.hot_seller} +{len(self.hot_events)} at once, "
            f"{len(self.second_run_events)} before the second run",
            f"  redeliveries: {len(self.late_redeliveries)} late, {len(self.push_burst_copies)} concurrent "
            f"same-id bursts ({sum(self.push_burst_copies.values())} pushes), "
            f"{len(self.webhook_dups)} concurrent webhook duplicates",
            f"  run trigger: {self.run_trigger}",
            f"  transfer tasks: {len(self.transfer_dups)} payouts delivered "
            f"{sum(d['copies'] for d in self.transfer_dups)} extra times "
            f"({', '.join(f'{n} {m}' for m, n in sorted(modes.items()))})",
            f"  sandbox: {self.sandbox}",
            "  5xx bursts: "
            + ", ".join(f"{b['error_rate']:.0%} for {b['seconds']} s at {b['at']:.0%}" for b in self.bursts),
            "  SIGKILL: "
            + ", ".join(f"{k['function']} {k['when']} (down {k['down_seconds']} s)" for k in self.kills),
            f"  refunds in flight: {[e['seller_id'] for e in self.inflight_refunds]}; webhook replays: "
            f"{self.replay_sample} transfers mid-run, all of them at the end",
            f"  FX: {self.fx_share:.0%} of the order lines on another storefront "
            f"({sum(1 for e in self.events if e['type'] == 'order_line.paid' and _foreign(e))} lines)",
            "  rails: "
            + (
                f"mixed (SE via Adyen, PL via Stripe, the rest via the sandbox); outage {self.rail_outage}"
                if self.mixed_rails
                else "the sandbox only"
            ),
            f"  funding: {self.short_funding} (the first run is held until a top-up)",
        ]

    def as_json(self) -> JSON:
        return asdict(self)


def make_plan(
    seed: int,
    n_sellers: int = 1000,
    short: bool = False,
    now: datetime | None = None,
    mixed_rails: bool = True,
    fx_share: float = FX_SHARE,
) -> Plan:
    """Every random choice of the run. The same (seed, sizes) gives the same plan; ``now`` only
    dates the events. The draws happen in a fixed order: changing it changes every plan."""
    rng = random.Random(seed)
    now = now or datetime(2026, 1, 1, tzinfo=UTC)
    sellers = _sellers(f"f{seed}", n_sellers, mixed_rails)
    paid_sellers = [s for s in sellers if s.profile == "paid"]
    # FX draws come from their own generator: the other draws stay those of a plan without FX.
    fx_rng = random.Random(f"fx-{seed}") if fx_share > 0 else None
    events, released = _initial_events(rng, sellers, now, fx_rng, fx_share)
    routes, push_burst_copies, webhook_dups = _routes(rng, events)
    late = sorted(rng.sample([e["event_id"] for e in events], k=min(len(events), max(10, len(events) // 25))))
    hot = rng.choice(paid_sellers)
    hot_events = _hot_seller_events(rng, hot, short, now)
    # Sellers the run will pay: something released, and a profile that is not skipped.
    payable = [s for s in sellers if released[s.seller_id] and s.profile not in EXPECTED_SKIP]
    refund_sellers, inflight = _inflight_refunds(rng, payable, released, hot, short, now)
    dup_pool = [s for s in payable if s not in refund_sellers]
    transfer_dups = _transfer_duplicates(rng, dup_pool, short)
    sandbox = _sandbox_faults(rng, seed)
    bursts = _bursts(rng, short)
    kills = _kills(rng, short)
    run_trigger = {"publishes": rng.randint(2, 4), "push_copies": rng.randint(2, 4), "api_starts": 2}
    second = _second_run_events(rng, paid_sellers, short, now)
    return Plan(
        seed=seed,
        short=short,
        run_tag=f"f{seed}",
        sellers=sellers,
        events=events,
        routes=routes,
        push_burst_copies=push_burst_copies,
        webhook_dups=webhook_dups,
        late_redeliveries=late,
        hot_seller=hot.seller_id,
        hot_events=hot_events,
        inflight_refunds=inflight,
        transfer_dups=transfer_dups,
        sandbox=sandbox,
        bursts=bursts,
        kills=kills,
        run_trigger=run_trigger,
        replay_sample=5 if short else 25,
        second_run_events=second,
        stuck_after_seconds=10 if short else 20,
        mixed_rails=mixed_rails,
        fx_share=fx_share,
        # Drawn last, so the plan's other draws are those of a sandbox-only plan of these sellers.
        # Early, while the first pages' transfers are sent, so SE payouts meet it and fail over.
        rail_outage={"rail": "adyen", "at": round(rng.uniform(0.0, 0.1), 2), "seconds": rng.randint(6, 10)}
        if mixed_rails
        else None,
        short_funding={"rail": "sandbox", "currency": "EUR", "hold_seconds": rng.randint(4, 12)},
    )


# The countries whose route starts with a real rail (countries.json ``rails``).
RAIL_COUNTRIES = ("SE", "PL")


def _foreign(paid_event: JSON) -> bool:
    """A sale in another currency than its seller's country's (the plan's FX lines)."""
    country = paid_event["seller_id"].split("-")[1]
    return bool(paid_event["data"]["gross"]["currency"] != CURRENCIES[country])


def storefront_for(country: str) -> str:
    """The other storefront a seller of ``country`` sells on: the euro one, or the UK's for a
    euro seller (shared/domain/data/storefronts.json)."""
    return "GBP" if CURRENCIES[country] == "EUR" else "EUR"


def _sellers(tag: str, n_sellers: int, mixed_rails: bool = True) -> list[SellerPlan]:
    countries = COUNTRIES + RAIL_COUNTRIES if mixed_rails else COUNTRIES
    sellers = []
    for k in range(n_sellers):
        country = countries[k % len(countries)]
        i = k // len(countries)
        sellers.append(SellerPlan(f"{tag}-{country}-{i:04d}", country, k + 1, PROFILES.get(k % 50, "paid")))
    return sellers


def _initial_events(
    rng: random.Random,
    sellers: list[SellerPlan],
    now: datetime,
    fx_rng: random.Random | None = None,
    fx_share: float = 0.0,
) -> tuple[list[JSON], dict[str, list[JSON]]]:
    """2 to 4 order lines per seller: paid, then released (return window closed, or delivered
    long ago) or held (delivered yesterday), some partly refunded. Returns the events in business
    order (payments, releases, refunds) and, per seller, the paid events of its released lines."""
    released: dict[str, list[JSON]] = defaultdict(list)
    waves: dict[str, list[JSON]] = {"paid": [], "release": [], "refund": []}
    for s in sellers:
        for j in range(rng.randint(2, 4)):
            foreign = fx_rng is not None and s.profile != "below_minimum" and fx_rng.random() < fx_share
            currency = storefront_for(s.country) if foreign else None
            _line_events(rng, s, f"{s.seller_id}-ol{j}", now, waves, released, currency)
    return waves["paid"] + waves["release"] + waves["refund"], released


def _line_events(
    rng: random.Random,
    s: SellerPlan,
    line: str,
    now: datetime,
    waves: dict[str, list[JSON]],
    released: dict[str, list[JSON]],
    currency: str | None = None,
) -> None:
    """One order line's events; ``currency``: sold on another storefront (issue 17)."""
    major = 1 if s.profile == "below_minimum" else rng.randint(40, 600)
    gross = minor_units(s.country, major) if currency is None else major * 100
    paid = order_event(
        s.seller_id,
        line,
        "paid",
        paid_data(s.country, gross, rng.randint(8, 15), currency),
        now - timedelta(days=45),
    )
    waves["paid"].append(paid)
    mode = rng.choices(["closed", "delivered_old", "held"], weights=[6, 3, 1])[0]
    if mode != "held":
        released[s.seller_id].append(paid)
    if mode == "closed":
        closed_at = now - timedelta(days=2)
        data = {"closed_at": iso(closed_at)}
        waves["release"].append(order_event(s.seller_id, line, "return_window_closed", data, closed_at))
    else:
        at = now - timedelta(days=40 if mode == "delivered_old" else 1)
        waves["release"].append(order_event(s.seller_id, line, "delivered", {"delivered_at": iso(at)}, at))
    if s.profile != "below_minimum" and rng.random() < 0.15:
        amount = gross // rng.choice([4, 5, 10])
        data = refund_data(s.country, f"rf-{line}", amount, currency)
        waves["refund"].append(order_event(s.seller_id, line, "refunded", data, now - timedelta(days=44)))


def _routes(rng: random.Random, events: list[JSON]) -> tuple[dict[str, str], dict[str, int], dict[str, int]]:
    """How each event travels: Pub/Sub, the signed webhook (some delivered 2-3 times at once), or
    one Pub/Sub message pushed 2-5 times at once with its message id."""
    routes: dict[str, str] = {}
    burst_copies: dict[str, int] = {}
    webhook_dups: dict[str, int] = {}
    for e in events:
        r = rng.random()
        routes[e["event_id"]] = "webhook" if r < 0.2 else "push_burst" if r < 0.26 else "pubsub"
        if routes[e["event_id"]] == "push_burst":
            burst_copies[e["event_id"]] = rng.randint(2, 5)
        elif routes[e["event_id"]] == "webhook" and rng.random() < 0.15:
            webhook_dups[e["event_id"]] = rng.randint(2, 3)
    return routes, burst_copies, webhook_dups


def _hot_seller_events(rng: random.Random, hot: SellerPlan, short: bool, now: datetime) -> list[JSON]:
    """Hundreds of small lines for one seller, each paid and released, sent at once."""
    events: list[JSON] = []
    for j in range(30 if short else 150):
        line = f"{hot.seller_id}-hot{j:03d}"
        gross = minor_units(hot.country, rng.randint(5, 60))
        events.append(
            order_event(
                hot.seller_id, line, "paid", paid_data(hot.country, gross, 10), now - timedelta(days=3)
            )
        )
        closed_at = now - timedelta(hours=1)
        data = {"closed_at": iso(closed_at)}
        events.append(order_event(hot.seller_id, line, "return_window_closed", data, closed_at))
    return events


def _inflight_refunds(
    rng: random.Random,
    payable: list[SellerPlan],
    released: dict[str, list[JSON]],
    hot: SellerPlan,
    short: bool,
    now: datetime,
) -> tuple[list[SellerPlan], list[JSON]]:
    """Half-refunds of a released line, sent while the seller's payout is in flight."""
    candidates = [s for s in payable if s.profile in ("paid", "declined", "returned") and s != hot]
    refund_sellers = rng.sample(candidates, k=min(len(candidates), 2 if short else 4))
    inflight = []
    for s in refund_sellers:
        paid = rng.choice(released[s.seller_id])
        gross = paid["data"]["gross"]["amount"]
        line = paid["order_line_id"]
        data = refund_data(s.country, f"rf-inflight-{line}", gross // 2, paid["data"]["gross"]["currency"])
        inflight.append(order_event(s.seller_id, line, "refunded", data, now, "-inflight"))
    return refund_sellers, inflight


def _transfer_duplicates(rng: random.Random, pool: list[SellerPlan], short: bool) -> list[JSON]:
    """Payouts whose transfer task is delivered 2-10 more times: at once, one after another, or
    the first alone and the rest at once."""
    return [
        {
            "seller_id": s.seller_id,
            "copies": rng.randint(2, 10),
            "mode": rng.choice(["concurrent", "sequential", "mixed"]),
        }
        for s in rng.sample(pool, k=min(len(pool), 8 if short else 40))
    ]


def _sandbox_faults(rng: random.Random, seed: int) -> JSON:
    """The sandbox provider's fault configuration while payouts are sent."""
    return {
        "latency_ms": rng.choice([10, 30, 60]),
        "timeout_after_accept_rate": round(rng.uniform(0.01, 0.04), 3),
        "timeout_sleep_ms": 4000,  # past the functions' 3 s provider timeout
        "duplicate_webhook_rate": round(rng.uniform(0.1, 0.3), 2),
        "out_of_order_rate": round(rng.uniform(0.5, 1.0), 2),
        "drop_webhook_rate": round(rng.uniform(0.03, 0.08), 3),
        "settle_delay_ms": 300,
        "return_delay_ms": 1500,
        "seed": seed,
    }


def _bursts(rng: random.Random, short: bool) -> list[JSON]:
    """Provider 5xx bursts: at a fraction of payouts settled, an error rate, for a few seconds."""
    return sorted(
        (
            {
                "at": round(rng.uniform(0.05, 0.7), 2),
                "error_rate": round(rng.uniform(0.5, 0.9), 2),
                "seconds": rng.randint(2, 4),
            }
            for _ in range(2 if short else 3)
        ),
        key=lambda b: b["at"],
    )


def _kills(rng: random.Random, short: bool) -> list[JSON]:
    """Functions SIGKILLed mid-work, and how long each stays down."""
    kills = [
        {
            "function": "run-shard-worker",
            "when": "mid_shard",
            "down_seconds": round(rng.uniform(0.5, 2.0), 1),
        },
        {
            "function": "transfer-worker",
            "when": f"mid_transfer_{rng.randint(20, 50)}",
            "down_seconds": round(rng.uniform(0.5, 2.0), 1),
        },
    ]
    if not short:
        kills += [
            {
                "function": "order-events",
                "when": "mid_flood",
                "down_seconds": round(rng.uniform(0.5, 2.0), 1),
            },
            {
                "function": "transfer-worker",
                "when": f"mid_transfer_{rng.randint(55, 80)}",
                "down_seconds": round(rng.uniform(0.5, 2.0), 1),
            },
            {
                "function": "provider-webhook",
                "when": f"mid_transfer_{rng.randint(30, 70)}",
                "down_seconds": round(rng.uniform(1.0, 3.0), 1),
            },
        ]
    return kills


def _second_run_events(
    rng: random.Random, paid_sellers: list[SellerPlan], short: bool, now: datetime
) -> list[JSON]:
    """A tenth of the paid sellers sell again before a second run (none in a short run)."""
    second: list[JSON] = []
    if short:
        return second
    for s in rng.sample(paid_sellers, k=max(1, len(paid_sellers) // 10)):
        line = f"{s.seller_id}-r2"
        gross = minor_units(s.country, rng.randint(40, 300))
        second.append(
            order_event(s.seller_id, line, "paid", paid_data(s.country, gross, 12), now - timedelta(days=5))
        )
        second.append(order_event(s.seller_id, line, "return_window_closed", {"closed_at": iso(now)}, now))
    return second
