"""Domain errors: a machine code, a human message and, when known, the offending field.

``DomainError`` subclasses ``ValueError`` on purpose: raised inside a pydantic validator it
becomes an ordinary validation error at the right field path instead of escaping as a crash.
Messages must never contain secrets (full account numbers): they end up in API responses and logs.
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(ValueError):
    """A rule of the domain was broken. ``code`` is snake_case and stable: clients match on it."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field  # dotted path, e.g. "bank_account.iban"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, field={self.field!r})"


class _CodedError(DomainError):
    """A DomainError whose code is fixed by its class."""

    error_code: ClassVar[str]

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(self.error_code, message, field)


class UnknownCurrency(_CodedError):
    error_code = "unknown_currency"


class CurrencyMismatch(_CodedError):
    error_code = "currency_mismatch"


class InvalidAmount(_CodedError):
    """Not an integer number of minor units (a float, a bool, a string...) or out of range."""

    error_code = "invalid_amount"


class AmountTooPrecise(_CodedError):
    """More decimals than the currency has minor units: it would need rounding."""

    error_code = "amount_too_precise"


class UnsupportedCountry(_CodedError):
    error_code = "unsupported_country"


class InvalidBankAccount(_CodedError):
    error_code = "invalid_bank_account"
