"""What the seller gives for its documents (issue 18): its language (optional, a tag, kept and
shown; omitted, the country's) and its tax id for DAC7 (checked for its country, shown masked,
a failing number refused at ``tax_id.number`` without echoing it)."""

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


# --- the tax id (DAC7) -------------------------------------------------------------------------

GOOD_TIN = "30 23 217 600 053"  # a French numéro fiscal
BAD_TIN = "30 23 217 600 054"


def test_a_valid_tax_id_is_kept_and_only_ever_shown_masked():
    seller = onboard("FR", tax_id={"country": "FR", "number": GOOD_TIN, "holder": "individual"})
    assert seller.tax_id is not None and seller.tax_id.country == "FR"
    stored = seller_to_doc(seller)
    assert seller_from_doc(stored).tax_id.masked == seller.tax_id.masked
    view = json.dumps(seller_view(seller, RULES), ensure_ascii=False)
    assert seller.tax_id.masked in view and "3023217600053" not in view and GOOD_TIN not in view


def test_a_tax_id_that_fails_its_country_s_check_is_a_422_naming_tax_id_number_without_the_number():
    from shared.entrypoints.http import validation_error

    with pytest.raises(ValidationError) as err:
        onboard("FR", tax_id={"country": "FR", "number": BAD_TIN})
    http = validation_error(err.value)
    body = json.dumps({"code": http.code, "message": http.message, "details": list(http.details)})
    assert http.status == 422 and [d["field"] for d in http.details] == ["tax_id.number"]
    assert BAD_TIN not in body and BAD_TIN.replace(" ", "") not in body


def test_a_tax_id_can_be_added_later():
    seller = onboard("FR")
    assert seller.tax_id is None and seller_view(seller, RULES)["tax_id"] is None
    patched = patch_seller(
        seller, SellerPatch(tax_id={"country": "FR", "number": GOOD_TIN}), RULES.get("FR"), NOW
    )
    assert (
        patched.tax_id is not None
        and seller_view(patched, RULES)["tax_id"]["masked"] == patched.tax_id.masked
    )
