"""Sellers' bank accounts: boundary models, validation per country, and the validated value.

Account numbers are secrets: they are ``SecretStr`` in the input models, never appear in error
messages, reprs or logs, and the rest of the system identifies an account by its ``masked`` form
(country + last 4) and its ``fingerprint``. Only ``ValidatedBankAccount.to_storage()`` (for the
datastore) and the payout provider see full numbers.

Checks are the libraries' where one exists: ``schwifty`` for IBAN (ISO 13616 check digits, length
and format per country, national check digits where schwifty has the country's algorithm) and
BIC, ``python-stdnum`` for US ABA routing numbers. No library covers Japanese Zengin codes,
Australian BSBs or Canadian institution/transit numbers (python-stdnum has only ABN/ACN/TFN and
BN/SIN for those countries, schwifty has no AU or CA registry), and none of them carries a check
digit, so those are digit patterns, with the lengths the rails accept (Adyen's auLocal and caLocal
account identifications). Whether a BSB or an institution number exists would need the
schemes' own directories (AusPayNet's BSB file, Payments Canada's member list): not checked.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints
from schwifty import BIC, IBAN
from schwifty import exceptions as schwifty_errors
from stdnum import exceptions as stdnum_errors
from stdnum.us import rtn

from shared.domain.countries import BankAccountScheme, CountryRules
from shared.domain.errors import InvalidBankAccount

# schwifty warns when a country's BBAN has national check digits it has no algorithm for (SE, HU):
# known and accepted (the ISO 13616 check digits still are verified); the country gate reports it.
warnings.filterwarnings("ignore", category=schwifty_errors.NationalChecksumNotVerified)

# --- Boundary input --------------------------------------------------------------------------------

# Printable text only: a newline or control character in a name can break provider files.
HolderName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=140, pattern=r"^[^\x00-\x1f\x7f]+$"),
]


class _AccountInput(BaseModel):
    # hide_input_in_errors keeps account numbers out of ValidationError messages when these models
    # are validated on their own; a model that embeds them must set it too (pydantic only honours
    # the outermost model's setting).
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, hide_input_in_errors=True)

    holder_name: HolderName


class IbanAccount(_AccountInput):
    scheme: Literal["iban"]
    iban: SecretStr = Field(min_length=1, max_length=64)  # 34 characters max, plus spaces
    bic: str | None = Field(default=None, max_length=20)


class UsAbaAccount(_AccountInput):
    scheme: Literal["us_aba"]
    routing_number: str = Field(max_length=20)
    account_number: SecretStr = Field(min_length=1, max_length=40)  # 4 to 17 digits, checked below
    account_type: Literal["checking", "savings"]


class JpZenginAccount(_AccountInput):
    scheme: Literal["jp_zengin"]
    bank_code: str = Field(max_length=10)  # 4 digits, checked below
    branch_code: str = Field(max_length=10)  # 3 digits
    account_number: SecretStr = Field(min_length=1, max_length=20)  # 7 digits
    account_type: Literal["ordinary", "checking"]


class AuBecsAccount(_AccountInput):
    """Australia: BSB (bank-state-branch) and account number, paid by BECS direct entry."""

    scheme: Literal["au_becs"]
    bsb: str = Field(max_length=10)  # 6 digits, "062-000" accepted, checked below
    account_number: SecretStr = Field(min_length=1, max_length=20)  # 5 to 9 digits


class CaEftAccount(_AccountInput):
    """Canada: institution, transit (branch) and account number, paid by EFT."""

    scheme: Literal["ca_eft"]
    institution_number: str = Field(max_length=10)  # 3 digits, checked below
    transit_number: str = Field(max_length=10)  # 5 digits
    account_number: SecretStr = Field(min_length=1, max_length=20)  # 5 to 12 digits
    account_type: Literal["checking", "savings"]


BankAccountInput = Annotated[
    IbanAccount | UsAbaAccount | JpZenginAccount | AuBecsAccount | CaEftAccount,
    Field(discriminator="scheme"),
]


# --- The validated value ---------------------------------------------------------------------------


def mask_account_number(country: str, number: str) -> str:
    """``"DE••••3000"``: the country and the last 4 characters, never more than half the number."""
    visible = min(4, (len(number) + 1) // 2)
    return f"{country}••••{number[len(number) - visible :]}"


@dataclass(frozen=True, slots=True, repr=False)
class ValidatedBankAccount:
    """A bank account that passed the checks of its seller's country, normalised.

    Build it with validate_bank_account() or from_storage(); ``masked`` and ``fingerprint`` are
    derived from the numbers. The fingerprint (sha256 of the scheme and the full normalised
    number) tells whether an account changed without comparing raw numbers. It is not a
    protection of the number (account numbers are guessable from it): keep it internal.
    """

    scheme: BankAccountScheme
    holder_name: str
    country: str
    masked: str
    fingerprint: str
    iban: SecretStr | None = None
    bic: str | None = None
    routing_number: str | None = None
    bank_code: str | None = None
    branch_code: str | None = None
    account_number: SecretStr | None = None
    account_type: str | None = None
    bsb: str | None = None
    institution_number: str | None = None
    transit_number: str | None = None

    def __repr__(self) -> str:
        return f"ValidatedBankAccount(scheme={self.scheme!r}, masked={self.masked!r})"

    def __str__(self) -> str:
        return self.masked

    def to_storage(self) -> dict[str, Any]:
        """Everything, full numbers included. For the datastore only: never log or return it."""
        data: dict[str, Any] = {
            "scheme": self.scheme,
            "holder_name": self.holder_name,
            "country": self.country,
            "masked": self.masked,
            "fingerprint": self.fingerprint,
        }
        for name in (
            "iban",
            "bic",
            "routing_number",
            "bank_code",
            "branch_code",
            "account_number",
            "account_type",
            "bsb",
            "institution_number",
            "transit_number",
        ):
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is not None:
                data[name] = value
        return data

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> ValidatedBankAccount:
        """Inverse of to_storage. Trusts the data (it was validated when written) but derives
        ``masked`` and ``fingerprint`` again rather than reading them."""
        scheme = data["scheme"]
        if scheme == "iban":
            return _iban_account(data["holder_name"], data["iban"], data.get("bic"))
        if scheme == "us_aba":
            return _us_account(
                data["holder_name"], data["routing_number"], data["account_number"], data["account_type"]
            )
        if scheme == "jp_zengin":
            return _jp_account(
                data["holder_name"],
                data["bank_code"],
                data["branch_code"],
                data["account_number"],
                data["account_type"],
            )
        if scheme == "au_becs":
            return _au_account(data["holder_name"], data["bsb"], data["account_number"])
        if scheme == "ca_eft":
            return _ca_account(
                data["holder_name"],
                data["institution_number"],
                data["transit_number"],
                data["account_number"],
                data["account_type"],
            )
        raise ValueError(f"unknown bank account scheme {scheme!r}")


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _iban_account(holder_name: str, iban: str, bic: str | None) -> ValidatedBankAccount:
    country = iban[:2]
    return ValidatedBankAccount(
        scheme="iban",
        holder_name=holder_name,
        country=country,
        masked=mask_account_number(country, iban),
        fingerprint=_fingerprint("iban", iban),
        iban=SecretStr(iban),
        bic=bic,
    )


def _us_account(holder_name: str, routing: str, number: str, account_type: str) -> ValidatedBankAccount:
    return ValidatedBankAccount(
        scheme="us_aba",
        holder_name=holder_name,
        country="US",
        masked=mask_account_number("US", number),
        # The account type is part of the identity: moving money to another account type is a change.
        fingerprint=_fingerprint("us_aba", routing, number, account_type),
        routing_number=routing,
        account_number=SecretStr(number),
        account_type=account_type,
    )


def _jp_account(
    holder_name: str, bank: str, branch: str, number: str, account_type: str
) -> ValidatedBankAccount:
    return ValidatedBankAccount(
        scheme="jp_zengin",
        holder_name=holder_name,
        country="JP",
        masked=mask_account_number("JP", number),
        fingerprint=_fingerprint("jp_zengin", bank, branch, account_type, number),
        bank_code=bank,
        branch_code=branch,
        account_number=SecretStr(number),
        account_type=account_type,
    )


def _au_account(holder_name: str, bsb: str, number: str) -> ValidatedBankAccount:
    return ValidatedBankAccount(
        scheme="au_becs",
        holder_name=holder_name,
        country="AU",
        masked=mask_account_number("AU", number),
        fingerprint=_fingerprint("au_becs", bsb, number),
        bsb=bsb,
        account_number=SecretStr(number),
    )


def _ca_account(
    holder_name: str, institution: str, transit: str, number: str, account_type: str
) -> ValidatedBankAccount:
    return ValidatedBankAccount(
        scheme="ca_eft",
        holder_name=holder_name,
        country="CA",
        masked=mask_account_number("CA", number),
        fingerprint=_fingerprint("ca_eft", institution, transit, account_type, number),
        institution_number=institution,
        transit_number=transit,
        account_number=SecretStr(number),
        account_type=account_type,
    )


def ca_routing_number(account: ValidatedBankAccount) -> str:
    """The 9-digit electronic routing number ``0`` + institution + transit (Payments Canada's EFT
    format, e.g. 000110000 for institution 001, transit 10000): what some rails ask for."""
    if account.institution_number is None or account.transit_number is None:
        raise ValueError("not a Canadian account")
    return f"0{account.institution_number}{account.transit_number}"


# --- Validation ----------------------------------------------------------------------------------

_IBAN_REASONS: dict[type[Exception], str] = {
    schwifty_errors.InvalidStructure: "IBAN has invalid characters or does not match its country's format",
    schwifty_errors.InvalidLength: "IBAN has the wrong length for its country",
    schwifty_errors.InvalidChecksumDigits: "IBAN check digits are wrong (a typo?)",
    schwifty_errors.InvalidBBANChecksum: "IBAN national check digits are wrong (a typo?)",
}


def _compact(value: str) -> str:
    # NFKC turns full-width digits and letters (common in Japanese input) into ASCII ones.
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


def _digits(value: str) -> str:
    """Digits with the spaces and hyphens people type removed."""
    return _compact(value).replace("-", "")


def validate_bank_account(
    account: BankAccountInput, rules: CountryRules, field_prefix: str = "bank_account"
) -> ValidatedBankAccount:
    """Check ``account`` against the seller country's rules and normalise it.

    Raises InvalidBankAccount whose ``field`` is the offending input (e.g. "bank_account.iban")
    and whose message never contains the account number.
    """
    if account.scheme != rules.bank_account_scheme:
        raise InvalidBankAccount(
            f"{rules.country} sellers need a {rules.bank_account_scheme} bank account, not {account.scheme}",
            f"{field_prefix}.scheme",
        )
    if isinstance(account, IbanAccount):
        return _validate_iban(account, rules, field_prefix)
    if isinstance(account, UsAbaAccount):
        return _validate_us(account, field_prefix)
    if isinstance(account, AuBecsAccount):
        return _validate_au(account, field_prefix)
    if isinstance(account, CaEftAccount):
        return _validate_ca(account, field_prefix)
    return _validate_jp(account, field_prefix)


def _validate_iban(account: IbanAccount, rules: CountryRules, prefix: str) -> ValidatedBankAccount:
    field = f"{prefix}.iban"
    try:
        iban = IBAN(_compact(account.iban.get_secret_value()), validate_bban=True)
    except schwifty_errors.InvalidCountryCode:
        raise InvalidBankAccount(
            "IBAN does not start with the code of a country that uses IBANs", field
        ) from None
    except schwifty_errors.SchwiftyException as exc:
        # schwifty's own messages can quote the IBAN: never pass them on.
        raise InvalidBankAccount(_IBAN_REASONS.get(type(exc), "IBAN is not valid"), field) from None
    if iban.country_code not in rules.iban_countries:
        raise InvalidBankAccount(
            f"IBAN country {iban.country_code} does not match seller country {rules.country}", field
        )
    bic: str | None = None
    if account.bic is not None:
        try:
            parsed = BIC(_compact(account.bic))
        except schwifty_errors.SchwiftyException as exc:
            raise InvalidBankAccount(f"BIC is not valid: {exc}", f"{prefix}.bic") from None
        if parsed.country_code != iban.country_code:
            raise InvalidBankAccount(
                f"BIC country {parsed.country_code} does not match IBAN country {iban.country_code}",
                f"{prefix}.bic",
            )
        bic = str(parsed.compact)
    return _iban_account(account.holder_name, str(iban.compact), bic)


def _validate_us(account: UsAbaAccount, prefix: str) -> ValidatedBankAccount:
    routing = _digits(account.routing_number)
    try:
        rtn.validate(routing)
    except stdnum_errors.InvalidChecksum:
        raise InvalidBankAccount("routing number check digit is wrong", f"{prefix}.routing_number") from None
    except stdnum_errors.ValidationError:
        raise InvalidBankAccount("routing number must be 9 digits", f"{prefix}.routing_number") from None
    number = _digits(account.account_number.get_secret_value())
    if not re.fullmatch(r"[0-9]{4,17}", number):
        raise InvalidBankAccount("account number must be 4 to 17 digits", f"{prefix}.account_number")
    return _us_account(account.holder_name, routing, number, account.account_type)


def _validate_jp(account: JpZenginAccount, prefix: str) -> ValidatedBankAccount:
    bank, branch = _digits(account.bank_code), _digits(account.branch_code)
    number = _digits(account.account_number.get_secret_value())
    if not re.fullmatch(r"[0-9]{4}", bank):
        raise InvalidBankAccount("bank code must be 4 digits", f"{prefix}.bank_code")
    if not re.fullmatch(r"[0-9]{3}", branch):
        raise InvalidBankAccount("branch code must be 3 digits", f"{prefix}.branch_code")
    if not re.fullmatch(r"[0-9]{7}", number):
        raise InvalidBankAccount("account number must be 7 digits", f"{prefix}.account_number")
    return _jp_account(account.holder_name, bank, branch, number, account.account_type)


def _validate_au(account: AuBecsAccount, prefix: str) -> ValidatedBankAccount:
    # Written by hand: no library covers BSBs (see the module docstring). BSBs have no check digit.
    bsb = _digits(account.bsb)
    number = _digits(account.account_number.get_secret_value())
    if not re.fullmatch(r"[0-9]{6}", bsb):
        raise InvalidBankAccount("BSB must be 6 digits", f"{prefix}.bsb")
    if not re.fullmatch(r"[0-9]{5,9}", number):
        raise InvalidBankAccount("account number must be 5 to 9 digits", f"{prefix}.account_number")
    return _au_account(account.holder_name, bsb, number)


def _validate_ca(account: CaEftAccount, prefix: str) -> ValidatedBankAccount:
    # Written by hand: no library covers Canadian routing numbers, which have no check digit.
    institution, transit = _digits(account.institution_number), _digits(account.transit_number)
    number = _digits(account.account_number.get_secret_value())
    if not re.fullmatch(r"[0-9]{3}", institution):
        raise InvalidBankAccount("institution number must be 3 digits", f"{prefix}.institution_number")
    if not re.fullmatch(r"[0-9]{5}", transit):
        raise InvalidBankAccount("transit number must be 5 digits", f"{prefix}.transit_number")
    if not re.fullmatch(r"[0-9]{5,12}", number):
        raise InvalidBankAccount("account number must be 5 to 12 digits", f"{prefix}.account_number")
    return _ca_account(account.holder_name, institution, transit, number, account.account_type)
