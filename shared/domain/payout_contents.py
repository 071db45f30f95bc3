"""What each payout pays for: the journal movements it settles, to the minor unit. No I/O.

A seller's ``available`` balance moves for a few reasons: an order line is released (its sale at
the gross amount, less the commission and any refund netted before release), a refund lands after
release, a payout reserves money, and a failed, canceled or returned payout gives it back. Each
movement that brings money in or takes it out is a :class:`MovementGroup`, itemised from its
journal entry's details. The groups not yet paid out are the seller's *open* groups, oldest first;
their open amounts always sum to the available balance (:meth:`SettlementState.open_total`).

A payout settles open groups, in this order (:func:`allocate`):

1. every open group whose open amount is negative or zero (refunds after release, a debt carried
   from an earlier negative balance): debts are netted at the first payout;
2. then positive groups, oldest first, until the payout amount is reached; the group that crosses
   it is split, and the part not paid stays open, "left for later" with a reason (an on-demand
   payout asked for less; a per-transfer cap).

Whatever the balance, this reaches the amount exactly when ``0 < amount <= available``. The payout's
contents (:class:`PayoutContents`) list each group's lines in full, then a ``paid_earlier`` line for
any part an earlier payout paid, and a ``left_for_later`` line for any part kept back, so the lines
sum to the payout amount. A failed, canceled or returned payout puts exactly its pieces back
(:func:`reopen`), so the next payout shows the same order lines again.

The use case folds the seller's available-bucket movements, in journal order, from a stored
checkpoint (:class:`SettlementState`) with :func:`replay`, checks the state against the stored
balance (:func:`check_in_step`), allocates, and stores the contents and the new checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.domain.errors import DomainError
from shared.domain.ledger import Bucket, DatedEntry, JournalEntry, parse_seller_account
from shared.domain.money import Money


class ContentKind(StrEnum):
    SALE = "sale"  # an order line released, at its gross amount
    COMMISSION = "commission"  # the marketplace's commission on it (negative)
    REFUND = "refund"  # a refund to the customer (negative)
    COMMISSION_RETURNED = "commission_returned"  # commission the marketplace gave back on a refund
    RELEASED = "released"  # an order line released, net, when its entry has no breakdown
    CARRIED_DEBT = "carried_debt"  # a negative balance from before contents were tracked
    BROUGHT_FORWARD = "brought_forward"  # a positive balance from before contents were tracked
    FX = "fx"  # a currency conversion of the balance (the FX issue books these)
    ADJUSTMENT = "adjustment"  # any other movement of the available balance
    PAID_EARLIER = "paid_earlier"  # the part of a movement that earlier payouts paid (negative)
    LEFT_FOR_LATER = "left_for_later"  # the part of a movement this payout keeps back (negative)


class MovementKind(StrEnum):
    RELEASED = "released"  # funds.released
    REFUNDED = "refunded"  # order_line.refunded, after release (from available)
    OPENING = "opening"  # the balance when contents tracking began
    FX = "fx"
    ADJUSTMENT = "adjustment"


class LeftReason(StrEnum):
    PARTIAL_AMOUNT = "partial_amount"  # the payout asked for less than the available balance
    TRANSACTION_CAP = "transaction_cap"  # capped at the largest transfer; the rest goes next run


# Journal entry kinds that are movements of payouts, not of what a payout pays for.
PAYOUT_RESERVED = "payout.created"
PAYOUT_REVERSALS = frozenset({"payout.failed", "payout.canceled", "payout.returned"})


class ContentsOutOfStep(DomainError):
    """The movements given do not add up to the stored balance, or a payout cannot be explained
    by them. Never expected: the caller re-reads (or replays from the start) rather than guess."""

    def __init__(self, message: str) -> None:
        super().__init__("payout_contents_out_of_step", message)


# --- The movements ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContentPart:
    kind: ContentKind
    amount: int  # minor units of the group's currency, signed as it counts for the seller
    ref: str | None = None  # a refund id


@dataclass(frozen=True, slots=True)
class MovementGroup:
    """One movement of the available balance, itemised. Its parts sum to ``net``."""

    movement_id: str  # the journal entry id (or "opening:<CCY>")
    kind: MovementKind
    at: datetime
    currency: str
    parts: tuple[ContentPart, ...]
    order_line_id: str | None = None
    owed: bool = False  # the balance was below zero right after it: a debt netted from later payouts

    @property
    def net(self) -> int:
        return sum(part.amount for part in self.parts)

    @property
    def sort_key(self) -> tuple[datetime, str]:
        return (self.at, self.movement_id)


@dataclass(frozen=True, slots=True)
class AvailableMovement:
    """What one journal entry did to a seller's available balance in one currency."""

    entry_id: str
    entry_kind: str
    at: datetime
    amount: Money  # what it added to available
    payout_id: str | None = None  # payout entries only
    group: MovementGroup | None = None  # entries that bring money in or take it out

    @property
    def key(self) -> tuple[datetime, str]:
        return (self.at, self.entry_id)


def payout_id_of(entry: JournalEntry) -> str:
    """Payout entries are caused by the payout (``po_…``) or by one of its transitions
    (``po_…:failed``)."""
    return entry.cause.split(":", 1)[0]


def available_movements(
    seller_id: str, currency: str, entries: Iterable[DatedEntry]
) -> list[AvailableMovement]:
    """The entries that moved ``seller_id``'s available balance in ``currency``, in journal order
    (time written, entry id). Others are skipped, so the seller's whole journal can be passed."""
    out: list[AvailableMovement] = []
    for dated in entries:
        entry = dated.entry
        postings = [
            p.amount.amount
            for p in entry.postings
            if p.amount.currency == currency
            and parse_seller_account(p.account) == (seller_id, Bucket.AVAILABLE)
        ]
        if not postings:
            continue
        money = Money(sum(postings), currency)
        if entry.kind == PAYOUT_RESERVED or entry.kind in PAYOUT_REVERSALS:
            out.append(AvailableMovement(entry.entry_id, entry.kind, dated.at, money, payout_id_of(entry)))
        else:
            group = movement_group(entry, dated.at, money)
            out.append(AvailableMovement(entry.entry_id, entry.kind, dated.at, money, group=group))
    return sorted(out, key=lambda m: m.key)


def movement_group(entry: JournalEntry, at: datetime, amount: Money) -> MovementGroup:
    """Itemise an entry that moved the available balance by ``amount`` from its details; an
    entry written before details existed becomes a single line of its net amount."""
    kind = _movement_kind(entry.kind)
    if entry.details:
        parts = tuple(ContentPart(ContentKind(d.kind), d.amount.amount, d.ref) for d in entry.details)
        if any(d.amount.currency != amount.currency for d in entry.details):
            raise ContentsOutOfStep(f"entry {entry.entry_id}: details in another currency")
        if sum(p.amount for p in parts) != amount.amount:
            raise ContentsOutOfStep(
                f"entry {entry.entry_id}: its details sum to {sum(p.amount for p in parts)}, "
                f"its available posting is {amount.amount}"
            )
    else:
        parts = (ContentPart(_undetailed_kind(kind), amount.amount),)
    return MovementGroup(entry.entry_id, kind, at, amount.currency, parts, entry.order_line_id)


def _movement_kind(entry_kind: str) -> MovementKind:
    if entry_kind == "funds.released":
        return MovementKind.RELEASED
    if entry_kind == "order_line.refunded":
        return MovementKind.REFUNDED
    if entry_kind.startswith("fx."):
        return MovementKind.FX
    return MovementKind.ADJUSTMENT


def _undetailed_kind(kind: MovementKind) -> ContentKind:
    return {
        MovementKind.RELEASED: ContentKind.RELEASED,
        MovementKind.REFUNDED: ContentKind.REFUND,
        MovementKind.FX: ContentKind.FX,
    }.get(kind, ContentKind.ADJUSTMENT)


def opening_group(currency: str, balance: Money, at: datetime) -> MovementGroup:
    """The available balance when contents tracking began, as one movement (no breakdown is
    known): a debt carried if negative."""
    kind = ContentKind.CARRIED_DEBT if balance.is_negative() else ContentKind.BROUGHT_FORWARD
    return MovementGroup(
        f"opening:{currency}", MovementKind.OPENING, at, currency, (ContentPart(kind, balance.amount),)
    )


# --- The state: what is still open -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenGroup:
    group: MovementGroup
    open: int  # not yet paid out; same sign as the group's net, never more than it in size
    reopened_from: str | None = None  # a failed, canceled or returned payout gave (some of) it back


@dataclass(frozen=True)
class SettlementState:
    """A seller's open groups in one currency, oldest first, and the last movement folded in
    (``through``): the checkpoint a use case stores and resumes from."""

    seller_id: str
    currency: str
    open_groups: tuple[OpenGroup, ...] = ()
    through: tuple[datetime, str] | None = None

    @classmethod
    def empty(cls, seller_id: str, currency: str) -> SettlementState:
        return cls(seller_id, currency)

    @classmethod
    def opening(cls, seller_id: str, balance: Money, at: datetime) -> SettlementState:
        """Start tracking a seller who already has an available balance: one opening group."""
        state = cls(seller_id, balance.currency, through=(at, ""))
        if balance.is_zero():
            return state
        group = opening_group(balance.currency, balance, at)
        return replace(state, open_groups=(OpenGroup(group, balance.amount),))

    def open_total(self) -> Money:
        return Money(sum(g.open for g in self.open_groups), self.currency)

    def is_after_checkpoint(self, movement: AvailableMovement) -> bool:
        return self.through is None or movement.key > self.through


def check_in_step(state: SettlementState, available: Money) -> None:
    """The open groups must sum to the stored available balance."""
    if state.open_total() != available:
        raise ContentsOutOfStep(
            f"seller {state.seller_id}: open contents sum to {state.open_total()}, "
            f"the available balance is {available}"
        )


def _insert(groups: tuple[OpenGroup, ...], item: OpenGroup) -> tuple[OpenGroup, ...]:
    """Keep the open groups in movement order; an entry already open gets the amount added."""
    out = list(groups)
    for i, current in enumerate(out):
        if current.group.movement_id == item.group.movement_id:
            origin = item.reopened_from or current.reopened_from
            out[i] = replace(current, open=current.open + item.open, reopened_from=origin)
            return tuple(x for x in out if x.open != 0)
    out.append(item)
    out.sort(key=lambda g: g.group.sort_key)
    return tuple(out)


def add_movement(state: SettlementState, group: MovementGroup) -> SettlementState:
    """Money in (a release) or out (a refund after release): a new open group."""
    if group.currency != state.currency:
        raise ContentsOutOfStep(f"movement {group.movement_id} is in {group.currency}, not {state.currency}")
    if group.net == 0:
        return state
    balance_after = state.open_total().amount + group.net
    if group.net < 0 and balance_after < 0:
        group = replace(group, owed=True)
    return replace(state, open_groups=_insert(state.open_groups, OpenGroup(group, group.net)))


# --- Allocation -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContentLine:
    """One line of a payout's contents, as a seller reads it."""

    kind: ContentKind
    amount: Money
    movement_id: str
    movement_kind: MovementKind
    occurred_at: datetime
    order_line_id: str | None = None
    ref: str | None = None  # the refund id; for left_for_later, the reason
    owed: bool = False  # part of a debt carried from an earlier negative balance
    reopened_from: str | None = None  # came back from this failed, canceled or returned payout


@dataclass(frozen=True, slots=True)
class SettledPiece:
    """The part of one open group a payout settles."""

    group: MovementGroup
    taken: int  # what this payout pays of the group
    open_before: int  # what was open before it (the rest of ``net`` was paid earlier)
    reopened_from: str | None = None

    def lines(self, reason: LeftReason | None) -> list[ContentLine]:
        g = self.group

        def line(kind: ContentKind, amount: int, ref: str | None) -> ContentLine:
            return ContentLine(
                kind,
                Money(amount, g.currency),
                g.movement_id,
                g.kind,
                g.at,
                g.order_line_id,
                ref,
                g.owed,
                self.reopened_from,
            )

        out = [line(p.kind, p.amount, p.ref) for p in g.parts]
        if g.net != self.open_before:
            out.append(line(ContentKind.PAID_EARLIER, -(g.net - self.open_before), None))
        if self.open_before != self.taken:
            out.append(
                line(
                    ContentKind.LEFT_FOR_LATER,
                    -(self.open_before - self.taken),
                    reason.value if reason else None,
                )
            )
        return out


@dataclass(frozen=True)
class PayoutContents:
    """What one payout settles. ``lines()`` sum to ``amount`` exactly."""

    payout_id: str
    seller_id: str
    amount: Money
    at: datetime
    pieces: tuple[SettledPiece, ...]
    left_for_later: tuple[OpenGroup, ...] = ()  # open after this payout (not part of the sum)
    left_reason: LeftReason | None = None

    def lines(self) -> list[ContentLine]:
        return [line for piece in self.pieces for line in piece.lines(self.left_reason)]

    def total(self) -> Money:
        return Money(sum(line.amount.amount for line in self.lines()), self.amount.currency)

    def order_line_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for piece in self.pieces:
            if piece.group.order_line_id:
                seen.setdefault(piece.group.order_line_id)
        return list(seen)


def allocate(
    state: SettlementState,
    payout_id: str,
    amount: Money,
    at: datetime,
    *,
    left_reason: LeftReason = LeftReason.PARTIAL_AMOUNT,
    movement_key: tuple[datetime, str] | None = None,
) -> tuple[PayoutContents, SettlementState]:
    """Settle ``amount`` from the open groups: every debt first, then credits oldest first, the
    last one split if needed. ``movement_key`` is the payout's own journal entry (the new
    checkpoint). Raises ContentsOutOfStep when the open groups cannot pay ``amount``."""
    if amount.currency != state.currency:
        raise ContentsOutOfStep(f"payout {payout_id} is in {amount.currency}, the state in {state.currency}")
    if not amount.is_positive() or amount > state.open_total():
        raise ContentsOutOfStep(
            f"payout {payout_id} of {amount} cannot be settled from open contents of {state.open_total()}"
        )
    debts = [g for g in state.open_groups if g.open <= 0]
    credits = [g for g in state.open_groups if g.open > 0]
    taken: dict[str, int] = {g.group.movement_id: g.open for g in debts}
    remaining = amount.amount - sum(g.open for g in debts)
    for g in credits:
        if remaining <= 0:
            break
        part = min(g.open, remaining)
        taken[g.group.movement_id] = part
        remaining -= part
    assert remaining == 0  # amount <= open total, and every debt is taken

    pieces: list[SettledPiece] = []
    still_open: list[OpenGroup] = []
    for g in state.open_groups:
        t = taken.get(g.group.movement_id)
        if t is None:
            still_open.append(g)
            continue
        pieces.append(SettledPiece(g.group, t, g.open, g.reopened_from))
        if t != g.open:
            still_open.append(replace(g, open=g.open - t))
    left = tuple(still_open)
    contents = PayoutContents(
        payout_id,
        state.seller_id,
        amount,
        at,
        tuple(pieces),
        left,
        left_reason if left else None,
    )
    new_state = replace(state, open_groups=left, through=movement_key or state.through)
    return contents, new_state


def reopen(state: SettlementState, contents: PayoutContents) -> SettlementState:
    """A failed, canceled or returned payout: exactly its pieces are open again, where they were
    in movement order, so the next payout shows the same lines."""
    groups = state.open_groups
    for piece in contents.pieces:
        if piece.taken != 0:
            groups = _insert(groups, OpenGroup(piece.group, piece.taken, contents.payout_id))
    return replace(state, open_groups=groups)


# --- Folding the journal ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    state: SettlementState
    contents: dict[str, PayoutContents] = field(default_factory=dict)  # payouts created in the replay


def replay(
    state: SettlementState,
    movements: Iterable[AvailableMovement],
    known_contents: Mapping[str, PayoutContents] | None = None,
    left_reasons: Mapping[str, LeftReason] | None = None,
) -> Replay:
    """Fold movements into the state in journal order (time written, entry id). Movements at or
    before the checkpoint are skipped, so a query may overlap it. A payout created here is
    allocated; a payout reversed here is reopened from its contents (created here, or in
    ``known_contents``: the stored contents of earlier payouts); ContentsOutOfStep if neither
    has them."""
    contents: dict[str, PayoutContents] = {}
    known = dict(known_contents or {})
    reasons = left_reasons or {}
    # Journal order, whatever order the query returned: entries written at the same instant
    # (one release tick) are ordered by id, and the checkpoint compares keys in that order.
    for movement in sorted(movements, key=lambda m: m.key):
        if not state.is_after_checkpoint(movement):
            continue
        if movement.entry_kind == PAYOUT_RESERVED:
            assert movement.payout_id is not None
            made, state = allocate(
                state,
                movement.payout_id,
                -movement.amount,
                movement.at,
                left_reason=reasons.get(movement.payout_id, LeftReason.PARTIAL_AMOUNT),
                movement_key=movement.key,
            )
            contents[movement.payout_id] = known[movement.payout_id] = made
        elif movement.entry_kind in PAYOUT_REVERSALS:
            assert movement.payout_id is not None
            earlier = known.get(movement.payout_id)
            if earlier is None:
                raise ContentsOutOfStep(f"the contents of payout {movement.payout_id} are not known")
            if earlier.amount != movement.amount:
                raise ContentsOutOfStep(
                    f"payout {movement.payout_id} gave back {movement.amount}, not {earlier.amount}"
                )
            state = replace(reopen(state, earlier), through=movement.key)
        else:
            assert movement.group is not None
            state = replace(add_movement(state, movement.group), through=movement.key)
    return Replay(state, contents)


# --- Storage form (plain JSON types) ----------------------------------------------------------------


def _group_to_dict(g: MovementGroup) -> dict[str, Any]:
    return {
        "movement_id": g.movement_id,
        "kind": g.kind.value,
        "at": g.at.isoformat(),
        "currency": g.currency,
        "order_line_id": g.order_line_id,
        "owed": g.owed,
        "parts": [{"kind": p.kind.value, "amount": p.amount, "ref": p.ref} for p in g.parts],
    }


def _group_from_dict(d: Mapping[str, Any]) -> MovementGroup:
    return MovementGroup(
        d["movement_id"],
        MovementKind(d["kind"]),
        datetime.fromisoformat(d["at"]),
        d["currency"],
        tuple(ContentPart(ContentKind(p["kind"]), int(p["amount"]), p.get("ref")) for p in d["parts"]),
        d.get("order_line_id"),
        bool(d.get("owed", False)),
    )


def _open_to_dict(g: OpenGroup) -> dict[str, Any]:
    return {"group": _group_to_dict(g.group), "open": g.open, "reopened_from": g.reopened_from}


def _open_from_dict(d: Mapping[str, Any]) -> OpenGroup:
    return OpenGroup(_group_from_dict(d["group"]), int(d["open"]), d.get("reopened_from"))


def state_to_storage(state: SettlementState) -> dict[str, Any]:
    return {
        "seller_id": state.seller_id,
        "currency": state.currency,
        "through": [state.through[0].isoformat(), state.through[1]] if state.through else None,
        "open_groups": [_open_to_dict(g) for g in state.open_groups],
    }


def state_from_storage(d: Mapping[str, Any]) -> SettlementState:
    through = d.get("through")
    return SettlementState(
        d["seller_id"],
        d["currency"],
        tuple(_open_from_dict(g) for g in d["open_groups"]),
        (datetime.fromisoformat(through[0]), through[1]) if through else None,
    )


def contents_to_storage(contents: PayoutContents) -> dict[str, Any]:
    return {
        "payout_id": contents.payout_id,
        "seller_id": contents.seller_id,
        "amount": contents.amount.amount,
        "currency": contents.amount.currency,
        "at": contents.at.isoformat(),
        "left_reason": contents.left_reason.value if contents.left_reason else None,
        "pieces": [
            {
                "group": _group_to_dict(p.group),
                "taken": p.taken,
                "open_before": p.open_before,
                "reopened_from": p.reopened_from,
            }
            for p in contents.pieces
        ],
        "left_for_later": [_open_to_dict(g) for g in contents.left_for_later],
    }


def contents_from_storage(d: Mapping[str, Any]) -> PayoutContents:
    return PayoutContents(
        d["payout_id"],
        d["seller_id"],
        Money(int(d["amount"]), d["currency"]),
        datetime.fromisoformat(d["at"]),
        tuple(
            SettledPiece(
                _group_from_dict(p["group"]), int(p["taken"]), int(p["open_before"]), p.get("reopened_from")
            )
            for p in d["pieces"]
        ),
        tuple(_open_from_dict(g) for g in d["left_for_later"]),
        LeftReason(d["left_reason"]) if d.get("left_reason") else None,
    )


def with_left_summarised(contents: PayoutContents) -> PayoutContents:
    """The contents as stored: the movements left open after the payout are the checkpoint's to
    keep (they can be thousands), so a payout keeps only their total, as one summary group."""
    total = sum(g.open for g in contents.left_for_later)
    if not contents.left_for_later or (
        len(contents.left_for_later) == 1 and contents.left_for_later[0].group.movement_id.startswith("left:")
    ):
        return contents
    currency = contents.amount.currency
    group = MovementGroup(
        f"left:{currency}",
        MovementKind.ADJUSTMENT,
        contents.at,
        currency,
        (ContentPart(ContentKind.ADJUSTMENT, total),),
    )
    return replace(contents, left_for_later=(OpenGroup(group, total),) if total else ())
