"""The vendors' contracts under shared/contracts are the published ones, unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.adapters.providers.contracts import CONTRACTS

ROOT = Path(__file__).resolve().parents[3]
FILES = [
    "adyen/TransferService-v4.json",
    "adyen/BalancePlatformTransferNotification-v4.json",
    "adyen/BalancePlatformService-v2.json",
    "adyen/LICENSE",
    "stripe/fixtures3.json",
    "stripe/LICENSE",
]


def published_specs() -> Path | None:
    """../shared/specs beside the checkout (CI, the lead's tree), or further up (a worktree)."""
    for parent in ROOT.parents:
        candidate = parent / "shared" / "specs"
        if (candidate / "adyen").is_dir():
            return candidate
    return None


@pytest.mark.parametrize("name", FILES)
def test_the_copy_is_the_published_contract(name):
    specs = published_specs()
    if specs is None:
        pytest.skip("no shared/specs beside this checkout to compare with")
    assert (CONTRACTS / name).read_bytes() == (specs / name).read_bytes()
