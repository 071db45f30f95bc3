"""What each planned seller is, and so how it must end: paid, failed with its bank's reason,
returned, or skipped by the run for a reason of its own."""

from __future__ import annotations

# Seller k (k modulo 50) gets a profile; the others are simply paid.
PROFILES = {
    1: "account_closed",
    2: "no_account",
    3: "invalid_account_number",
    4: "account_frozen",
    5: "declined",
    6: "insufficient_platform_funds",
    7: "returned",
    8: "on_hold",
    9: "kyc_pending",
    10: "below_minimum",
}
# Profiles whose transfer the sandbox fails, with the profile as the failure code.
FAILING = {
    "account_closed",
    "no_account",
    "invalid_account_number",
    "account_frozen",
    "declined",
    "insufficient_platform_funds",
}
# Profiles the run skips, with the skip reason it must give.
EXPECTED_SKIP = {"on_hold": "on_hold", "kyc_pending": "kyc_pending", "below_minimum": "below_minimum"}
# Skip reasons of a seller with nothing (or too little) due.
NOTHING_DUE = ("no_available_balance", "below_minimum", "negative_balance")
