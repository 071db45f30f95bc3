"""Shared boundary validation: strict pydantic models and errors with field paths.

Every JSON document the platform accepts (an HTTP body, a Pub/Sub message, a task, a webhook)
goes through :func:`parse_payload`: strict JSON first (``shared.strict_json``: duplicate keys,
depth, NaN), then its model. A refusal is one :class:`InvalidPayload` whose ``details`` name
each field the way every answer names it (``amount.amount``, ``data.gross.currency``).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar, overload

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from shared import strict_json
from shared.domain.money import INT64_MAX, Money, currency_exponent


# Ids we accept from callers: short, URL-safe, no separators that our keys use.
def not_reserved(value: str) -> str:
    # Firestore reserves ids of the form __x__: refuse them here rather than fail in the database.
    if value.startswith("__") and value.endswith("__"):
        raise ValueError("ids of the form __x__ are reserved")
    return value


Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$"), AfterValidator(not_reserved)]
# The ids the platform makes (payouts, runs, shard pages): the same alphabet, a little longer.
ResourceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,80}$"), AfterValidator(not_reserved)]


def _known_currency(code: str) -> str:
    currency_exponent(code)  # raises UnknownCurrency
    return code


CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_known_currency)]


# The largest amount any body may carry: amounts are stored and exchanged as signed 64-bit integers.
MAX_AMOUNT = INT64_MAX


class StrictModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, hide_input_in_errors=True)


class MoneyIn(StrictModel):
    """An amount in integer minor units (cents for EUR, yen for JPY) with its ISO 4217 code."""

    amount: int = Field(ge=0, le=MAX_AMOUNT, description="integer minor units; floats are rejected")
    currency: CurrencyCode

    def to_money(self) -> Money:
        return Money(self.amount, self.currency)


class PositiveMoneyIn(MoneyIn):
    amount: int = Field(gt=0, le=MAX_AMOUNT, description="integer minor units, greater than zero")


# pydantic puts the tag of a discriminated union in the error path ("order_line.paid.data…",
# "bank_account.iban.iban"); callers know the field, not the tag, so the tag is dropped.
_UNION_TAGS = {
    "": frozenset(
        {"order_line.paid", "order_line.delivered", "order_line.return_window_closed", "order_line.refunded"}
    ),
    "bank_account": frozenset({"iban", "us_aba", "jp_zengin", "au_becs", "ca_eft"}),
}


def _without_union_tags(loc: list[str]) -> list[str]:
    out: list[str] = []
    parent, skipped = "", False
    for i, part in enumerate(loc):
        if not skipped and i < len(loc) - 1 and part in _UNION_TAGS.get(parent, frozenset()):
            skipped = True  # the tag itself; the next part is a real field even if it has the same name
            continue
        out.append(part)
        parent, skipped = part, False
    return out


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as ``{"field": "data.gross.amount", "reason": …, "code": …}``."""
    out: list[dict[str, Any]] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = _without_union_tags([str(part) for part in err["loc"] if not str(part).startswith("function-")])
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            # The discriminator field itself is wrong or missing: name it.
            loc = [*loc, str((err.get("ctx") or {}).get("discriminator", "type")).strip("'")]
        reason = err["msg"]
        ctx_error = (err.get("ctx") or {}).get("error")
        if ctx_error is not None and hasattr(ctx_error, "message"):
            reason = ctx_error.message
        out.append({"field": ".".join(loc) or "$", "reason": reason, "code": err["type"]})
    return out


# --- one parsing path for every document ---------------------------------------------------------

M = TypeVar("M")
_Model = TypeVar("_Model", bound=BaseModel)


class InvalidPayload(ValueError):
    """A document refused: not strict JSON (``malformed``: 400 ``malformed_json``) or not valid by
    its model (422 ``validation_failed``, or a provider's 400 ``invalid_webhook``). ``details`` is
    ``[{"field", "reason", "code"}]``, ``field`` a path such as ``amount.amount`` (``$``: the whole)."""

    def __init__(self, malformed: bool, details: list[dict[str, Any]]) -> None:
        first = details[0] if details else {"field": "$", "reason": "invalid"}
        super().__init__(f"{first['field']}: {first['reason']}")
        self.malformed = malformed
        self.details = details


@overload
def parse_payload(schema: type[_Model], data: bytes | str) -> _Model: ...


@overload
def parse_payload(schema: TypeAdapter[M], data: bytes | str) -> M: ...


def parse_payload(schema: type[BaseModel] | TypeAdapter[Any], data: bytes | str) -> Any:
    """``data`` parsed strictly, then validated by ``schema`` (a pydantic model or TypeAdapter).

    The model validates the JSON text itself (``model_validate_json``), keeping pydantic's
    JSON-mode coercions (ISO dates and times); strict JSON only decides first what JSON is.
    """
    try:
        strict_json.check(data)
    except strict_json.JsonRejected as exc:
        code = "duplicate_key" if exc.reason == "duplicate key" else "json_invalid"
        raise InvalidPayload(True, [{"field": exc.path, "reason": exc.reason, "code": code}]) from exc
    try:
        if isinstance(schema, TypeAdapter):
            return schema.validate_json(data)
        return schema.model_validate_json(data)
    except ValidationError as exc:
        details = field_errors(exc)
        raise InvalidPayload(any(d["code"] == "json_invalid" for d in details), details) from exc
