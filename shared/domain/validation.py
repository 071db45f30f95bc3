"""Shared boundary validation: strict pydantic models and errors with field paths."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from shared.domain.money import Money, currency_exponent


# Ids we accept from callers: short, URL-safe, no separators that our keys use.
def not_reserved(value: str) -> str:
    # Firestore reserves ids of the form __x__: refuse them here rather than fail in the database.
    if value.startswith("__") and value.endswith("__"):
        raise ValueError("ids of the form __x__ are reserved")
    return value


Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$"), AfterValidator(not_reserved)]


def _known_currency(code: str) -> str:
    currency_exponent(code)  # raises UnknownCurrency
    return code


CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_known_currency)]


class StrictModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, hide_input_in_errors=True)


class MoneyIn(StrictModel):
    """An amount in integer minor units (cents for EUR, yen for JPY) with its ISO 4217 code."""

    amount: int = Field(ge=0, description="integer minor units; floats are rejected")
    currency: CurrencyCode

    def to_money(self) -> Money:
        return Money(self.amount, self.currency)


class PositiveMoneyIn(MoneyIn):
    amount: int = Field(gt=0, description="integer minor units, greater than zero")


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
