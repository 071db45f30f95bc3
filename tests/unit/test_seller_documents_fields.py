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


# --- the DAC7 identity fields ------------------------------------------------------------------

INDIVIDUAL = {
    "kind": "individual",
    "address": {"country": "FR", "city": "Lyon", "street": "12 rue Mercière", "post_code": "69002"},
    "first_name": "Camille",
    "last_name": "Martin",
    "birth_date": "1985-07-30",
    "vat_number": "FR 40 303 265 045",
}
ENTITY = {
    "kind": "entity",
    "address": {"country": "DE", "city": "Berlin"},
    "legal_name": "Refurb GmbH",
    "business_registration_number": "HRB 12345",
    "permanent_establishments": ["FR", "FR", "IT"],
}


def test_dac7_details_are_kept_stored_shown_and_what_is_missing_is_listed():
    seller = onboard("FR", dac7=INDIVIDUAL)
    assert seller.dac7 is not None and seller.dac7.residence_country == "FR"
    assert seller.dac7.vat_number == "FR40303265045"  # compact, checked by stdnum
    assert seller_from_doc(seller_to_doc(seller)) == seller
    view = seller_view(seller, RULES)
    assert view["dac7"]["first_name"] == "Camille" and view["dac7"]["birth_date"] == "1985-07-30"
    assert view["dac7_missing"] == ["tin_or_birth_place"]  # no tax id yet, no place of birth
    with_tin = patch_seller(
        seller, SellerPatch(tax_id={"country": "FR", "number": GOOD_TIN}), RULES.get("FR"), NOW
    )
    assert seller_view(with_tin, RULES)["dac7_missing"] == []
    assert seller_view(onboard("FR", dac7=None), RULES)["dac7_missing"] == ["dac7"]


def test_an_entity_s_details_and_a_patch_replacing_them():
    seller = onboard("DE", dac7=ENTITY)
    assert seller.dac7 is not None and seller.dac7.permanent_establishments == ("FR", "IT")
    assert seller_from_doc(seller_to_doc(seller)) == seller
    patched = patch_seller(
        seller, SellerPatch.model_validate_json(json.dumps({"dac7": INDIVIDUAL})), RULES.get("DE"), NOW
    )
    assert patched.dac7 is not None and patched.dac7.kind.value == "individual"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"vat_number": "FR 40 303 265 046"}, "dac7.vat_number"),
        ({"birth_date": "2999-01-01"}, "dac7.birth_date"),
        ({"birth_date": "1990-02-30"}, "dac7.birth_date"),
        ({"birth_date": 19900101}, "dac7.birth_date"),
        ({"address": {"country": "XX", "city": "Lyon"}}, "dac7.address.country"),
        ({"address": {"country": "FR"}}, "dac7.address.city"),
        ({"last_name": None}, "dac7"),  # an individual needs its names
        ({"legal_name": "Camille SARL"}, "dac7"),  # not an individual's field
        ({"kind": "trust"}, "dac7.kind"),
        ({"permanent_establishments": "FR"}, "dac7.permanent_establishments"),
        ({"nickname": "cam"}, "dac7.nickname"),
    ],
)
def test_bad_dac7_details_are_a_422_naming_the_field(change, field):
    from shared.entrypoints.http import validation_error

    with pytest.raises(ValidationError) as err:
        onboard("FR", dac7=INDIVIDUAL | change)
    http = validation_error(err.value)
    assert http.status == 422 and field in [d["field"] for d in http.details], http.details
