"""The seller's language for its documents (issue 18): optional, a language tag, kept and shown;
omitted, the country's."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.adapters.firestore.documents import seller_from_doc, seller_to_doc
from shared.domain.countries import load_country_rules
from shared.domain.sellers import SellerIn, SellerPatch, onboard_seller, patch_seller
from shared.entrypoints.views import seller_view
from stand_ins.sample_sellers import seller_body

RULES = load_country_rules()
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def onboard(country="BE", **overrides):
    body = SellerIn.model_validate_json(json.dumps(seller_body(country, 3, **overrides)))
    return onboard_seller("s-1", body, RULES.get(country), NOW)


def test_a_language_given_is_kept_stored_and_shown():
    seller = onboard(language="fr-BE")
    assert seller.language == "fr-BE"
    assert seller_from_doc(seller_to_doc(seller)).language == "fr-BE"
    assert seller_view(seller, RULES)["language"] == "fr-BE"
    changed = patch_seller(seller, SellerPatch(language="nl"), RULES.get("BE"), NOW)
    assert changed.language == "nl"


def test_without_a_language_the_country_s_is_shown():
    seller = onboard("DE")
    assert seller.language is None and seller_view(seller, RULES)["language"] == "de"


@pytest.mark.parametrize("bad", ["french", "FR", "fr_BE", "", "fr-be", "f"])
def test_a_language_that_is_not_a_tag_is_refused_naming_the_field(bad):
    with pytest.raises(ValidationError) as err:
        onboard(language=bad)
    assert err.value.errors()[0]["loc"] == ("language",)
