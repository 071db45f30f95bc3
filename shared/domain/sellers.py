"""Sellers: who gets paid, where, and whether they may be paid. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from shared.domain.bank_accounts import BankAccountInput, ValidatedBankAccount, validate_bank_account
from shared.domain.countries import CountryRules
from shared.domain.dac7 import Dac7Details, Dac7DetailsIn
from shared.domain.errors import DomainError
from shared.domain.schedule import PayoutSchedule
from shared.domain.tax_ids import TaxIdIn, ValidatedTaxId
from shared.domain.validation import CurrencyCode, StrictModel

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class KycStatus(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


class BankAccountStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"  # the bank refused it (account closed, no such account): fix it to be paid


class PayoutHold(StrictModel):
    held: bool
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None

    @model_validator(mode="after")
    def _reason_when_held(self) -> PayoutHold:
        if self.held and not self.reason:
            raise ValueError("a reason is required when payouts are held")
        return self


NO_HOLD = PayoutHold(held=False)

# A BCP 47 language tag as documents need it: a language, optionally its region (issue 18).
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")]


# The provider-side ids a rail may need (rail_capabilities.json ``needs``), as each vendor shapes them.
StripeAccountId = Annotated[str, StringConstraints(pattern=r"^acct_[A-Za-z0-9]{1,64}$")]
AdyenAccountHolderId = Annotated[str, StringConstraints(pattern=r"^AH[0-9A-Z]{8,40}$")]
AdyenBalanceAccountId = Annotated[str, StringConstraints(pattern=r"^BA[0-9A-Z]{8,40}$")]


class RailAccountsIn(StrictModel):
    """``rail_accounts`` at onboarding: the seller's ids on the rails that need them."""

    stripe: StripeAccountId | None = None  # Stripe Connect connected account
    adyen_account_holder: AdyenAccountHolderId | None = None
    adyen_balance_account: AdyenBalanceAccountId | None = None

    def to_domain(self) -> RailAccounts:
        return RailAccounts(
            stripe_account=self.stripe,
            adyen_account_holder=self.adyen_account_holder,
            adyen_balance_account=self.adyen_balance_account,
        )


class SellerIn(StrictModel):
    """Create or replace a seller (PUT)."""

    country: CountryCode
    currency: CurrencyCode
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    bank_account: BankAccountInput
    # The currency the seller is paid in; omitted: its country's (issue 17). Checked against the
    # country and its rails by the use case (payout_currency.check_payout_currency).
    payout_currency: CurrencyCode | None = None
    kyc_status: KycStatus = KycStatus.PENDING
    payout_schedule: PayoutSchedule | None = None  # omitted: the country's default
    payout_hold: PayoutHold = Field(default=NO_HOLD)
    rail_accounts: RailAccountsIn = Field(default_factory=RailAccountsIn)

    # The seller's language for documents (remittance advice), e.g. "fr" or "fr-BE"; omitted:
    # its country's (issue 18).
    language: Language | None = None
    # The seller's tax identification number (DAC7), checked for its issuing country (issue 18).
    tax_id: TaxIdIn | None = None
    # Who the seller is, as the yearly DAC7 report needs it (issue 18): kind, address, names.
    dac7: Dac7DetailsIn | None = None


class SellerPatch(StrictModel):
    """Change some of a seller's fields (PATCH). Country and currency never change."""

    display_name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    payout_currency: CurrencyCode | None = None  # issue 17: checked as at onboarding
    bank_account: BankAccountInput | None = None
    kyc_status: KycStatus | None = None
    payout_schedule: PayoutSchedule | None = None
    payout_hold: PayoutHold | None = None
    rail_accounts: RailAccountsIn | None = None  # replaces the seller's rail ids as a whole
    # The seller's language for documents (remittance advice), e.g. "fr" or "fr-BE"; omitted:
    # its country's (issue 18).
    language: Language | None = None
    # The seller's tax identification number (DAC7), checked for its issuing country (issue 18).
    tax_id: TaxIdIn | None = None
    # Who the seller is, as the yearly DAC7 report needs it (issue 18): kind, address, names.
    dac7: Dac7DetailsIn | None = None


class SellerError(DomainError):
    pass


@dataclass(frozen=True)
class RailAccounts:
    """A seller's provider-side ids, for the rails whose ``needs`` name them. Not secrets, but
    shown masked like bank numbers (``masked_rail_accounts``)."""

    stripe_account: str | None = None  # Stripe Connect connected account, "acct_…"
    adyen_account_holder: str | None = None  # Adyen account holder, "AH…"
    adyen_balance_account: str | None = None  # the seller's own Adyen balance account, "BA…"

    def kinds(self) -> frozenset[str]:
        return frozenset(k for k, v in vars(self).items() if v)

    def masked(self) -> dict[str, str]:
        """For answers and logs: the id's type prefix and its last four characters."""
        return {
            k: f"{v[:5] if v.startswith('acct_') else v[:2]}…{v[-4:]}" for k, v in vars(self).items() if v
        }


@dataclass(frozen=True)
class Seller:
    seller_id: str
    country: str
    currency: str
    display_name: str
    bank_account: ValidatedBankAccount
    bank_account_changed_at: datetime
    kyc_status: KycStatus
    payout_schedule: PayoutSchedule
    payout_hold: PayoutHold
    created_at: datetime
    updated_at: datetime
    bank_account_status: BankAccountStatus = BankAccountStatus.VALID
    bank_account_invalid_reason: str | None = None
    # The seller's ids on rails that need them (onboarding's ``rail_accounts``).
    rail_accounts: RailAccounts = RailAccounts()  # frozen: one shared empty default is safe
    language: str | None = None  # for documents; None: the country's (issue 18)
    tax_id: ValidatedTaxId | None = None  # DAC7; shown masked only (issue 18)
    dac7: Dac7Details | None = None  # DAC7 identity fields (issue 18)
    # What the seller is paid in (issue 17); empty: its country's currency (``currency``). It may
    # hold balances in other currencies too (payout_currency.sales_currencies).
    payout_currency: str = ""

    def __post_init__(self) -> None:
        if not self.payout_currency:
            object.__setattr__(self, "payout_currency", self.currency)

    def cooling_off_until(self, rules: CountryRules) -> datetime:
        """Payouts wait this long after a bank-account change, against account takeover. The
        account given at onboarding is not a change: it was checked with the seller's KYC."""
        if self.bank_account_changed_at <= self.created_at:
            return self.created_at
        return self.bank_account_changed_at + timedelta(days=rules.bank_account_cooling_off_days)


def onboard_seller(seller_id: str, data: SellerIn, rules: CountryRules, now: datetime) -> Seller:
    if data.currency != rules.currency:
        raise SellerError(
            "currency_mismatch",
            f"currency {data.currency} does not match {rules.country}'s currency {rules.currency}",
            "currency",
        )
    return Seller(
        seller_id=seller_id,
        country=data.country,
        currency=data.currency,
        display_name=data.display_name,
        bank_account=validate_bank_account(data.bank_account, rules),
        bank_account_changed_at=now,
        kyc_status=data.kyc_status,
        payout_schedule=data.payout_schedule or rules.payout_schedule,
        payout_hold=data.payout_hold,
        created_at=now,
        updated_at=now,
        rail_accounts=data.rail_accounts.to_domain(),
        language=data.language,
        tax_id=data.tax_id.validated() if data.tax_id else None,
        dac7=data.dac7.to_domain() if data.dac7 else None,
        payout_currency=data.payout_currency or rules.currency,
    )


def replace_seller(current: Seller, data: SellerIn, rules: CountryRules, now: datetime) -> Seller:
    if data.country != current.country:
        raise SellerError("immutable_field", "a seller's country cannot change after onboarding", "country")
    fresh = onboard_seller(current.seller_id, data, rules, now)
    return _keep_history(current, fresh, now)


def patch_seller(current: Seller, patch: SellerPatch, rules: CountryRules, now: datetime) -> Seller:
    changes: dict[str, Any] = {"updated_at": now}
    if patch.display_name is not None:
        changes["display_name"] = patch.display_name
    if patch.payout_currency is not None:
        changes["payout_currency"] = patch.payout_currency
    if patch.kyc_status is not None:
        changes["kyc_status"] = patch.kyc_status
    if patch.payout_schedule is not None:
        changes["payout_schedule"] = patch.payout_schedule
    if patch.payout_hold is not None:
        changes["payout_hold"] = patch.payout_hold
    if patch.bank_account is not None:
        changes["bank_account"] = validate_bank_account(patch.bank_account, rules)
    if patch.rail_accounts is not None:
        changes["rail_accounts"] = patch.rail_accounts.to_domain()
    if patch.language is not None:
        changes["language"] = patch.language
    if patch.tax_id is not None:
        changes["tax_id"] = patch.tax_id.validated()
    if patch.dac7 is not None:
        changes["dac7"] = patch.dac7.to_domain()
    return _keep_history(current, replace(current, **changes), now)


def _keep_history(current: Seller, updated: Seller, now: datetime) -> Seller:
    """Creation time stays; a new bank account restarts the cooling-off clock and its status."""
    updated = replace(updated, created_at=current.created_at, updated_at=now)
    if bank_account_changed(current, updated):
        return replace(
            updated,
            bank_account_changed_at=now,
            bank_account_status=BankAccountStatus.VALID,
            bank_account_invalid_reason=None,
        )
    return replace(
        updated,
        bank_account_changed_at=current.bank_account_changed_at,
        bank_account_status=current.bank_account_status,
        bank_account_invalid_reason=current.bank_account_invalid_reason,
    )


def bank_account_changed(before: Seller, after: Seller) -> bool:
    return before.bank_account.fingerprint != after.bank_account.fingerprint
