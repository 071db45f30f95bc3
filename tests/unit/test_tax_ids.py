"""Tax identification numbers, checked per issuing country with python-stdnum."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared.domain.tax_ids import (
    TIN_SCHEMES,
    InvalidTaxId,
    TaxIdHolder,
    TaxIdIn,
    ValidatedTaxId,
    schemes_for,
    validate_tax_id,
)
from shared.domain.validation import field_errors

# (country, holder, a valid number as people write it, the same with a wrong check digit)
VALID_AND_BROKEN = [
    ("FR", TaxIdHolder.INDIVIDUAL, "30 23 217 600 053", "30 23 217 600 054"),  # numéro fiscal
    ("FR", TaxIdHolder.ENTITY, "404 833 048", "404 833 047"),  # SIREN
    ("DE", TaxIdHolder.INDIVIDUAL, "36 574 261 809", "36 574 261 890"),  # Steuer-IdNr
    ("ES", TaxIdHolder.INDIVIDUAL, "54362315-K", "54362315-Z"),  # DNI
    ("ES", TaxIdHolder.ENTITY, "B64717838", "B64717839"),  # CIF
    ("IT", TaxIdHolder.INDIVIDUAL, "RCCMNL83S18D969H", "RCCMNL83S18D969X"),  # codice fiscale
    ("IT", TaxIdHolder.ENTITY, "00743110157", "00743110158"),  # partita IVA
    ("NL", TaxIdHolder.INDIVIDUAL, "1112.22.333", "1112.52.333"),  # BSN
    ("BE", TaxIdHolder.INDIVIDUAL, "85.07.30-033.28", "85.07.30-033.29"),  # national number
    ("BE", TaxIdHolder.ENTITY, "0428.759.497", "0428.759.498"),  # enterprise number
    ("AT", None, "59-119/9013", "59-119/9014"),
    ("PL", TaxIdHolder.INDIVIDUAL, "44051401359", "44051401358"),  # PESEL
    ("PT", None, "501 964 843", "501 964 842"),
    ("SE", TaxIdHolder.INDIVIDUAL, "880320-0016", "880320-0018"),
    ("US", TaxIdHolder.ENTITY, "91-1144442", "07-1144442"),  # EIN: no check digit, a known prefix
    ("JP", TaxIdHolder.ENTITY, "5-8356-7825-6246", "2-8356-7825-6246"),  # corporate number
    ("GB", None, "1955839661", "2955839661"),  # UTR
]


@pytest.mark.parametrize(("country", "holder", "good", "bad"), VALID_AND_BROKEN)
def test_each_country_checks_its_own_numbers(country, holder, good, bad):
    tin = validate_tax_id(country, good, holder)
    assert tin.checked and tin.scheme in schemes_for(country, holder)
    assert " " not in tin.number.get_secret_value()
    with pytest.raises(InvalidTaxId) as exc:
        validate_tax_id(country, bad, holder)
    assert exc.value.field == "number"
    assert bad not in exc.value.message and tin.number.get_secret_value() not in exc.value.message


def test_a_french_company_number_is_not_a_french_persons_tin():
    validate_tax_id("FR", "404833048", TaxIdHolder.ENTITY)
    with pytest.raises(InvalidTaxId, match="for an individual"):
        validate_tax_id("FR", "404833048", TaxIdHolder.INDIVIDUAL)
    assert validate_tax_id("FR", "404833048").scheme == "fr.siren"  # holder unknown: any FR scheme


def test_every_scheme_named_is_a_python_stdnum_module_with_a_validator():
    for country, (individual, entity) in TIN_SCHEMES.items():
        for path in (*individual, *entity):
            from shared.domain.tax_ids import _module

            assert callable(_module(path).validate), (country, path)


def test_where_no_library_covers_a_country_a_plausible_number_is_kept_unchecked():
    tin = validate_tax_id("MT", "1234567M", TaxIdHolder.INDIVIDUAL)
    assert not tin.checked and tin.number.get_secret_value() == "1234567M"
    with pytest.raises(InvalidTaxId):
        validate_tax_id("MT", "<script>", TaxIdHolder.INDIVIDUAL)


def test_a_tin_never_shows_in_full_outside_storage():
    tin = validate_tax_id("FR", "3023217600053")
    assert "3023217600053" not in repr(tin) and "3023217600053" not in str(tin)
    assert tin.masked == "FR••••••••••053"
    assert ValidatedTaxId.from_storage(tin.to_storage()) == tin


def test_the_onboarding_field_reports_a_bad_number_at_its_path():
    body = {"country": "FR", "holder": "individual", "number": "30 23 217 600 054"}
    with pytest.raises(ValidationError) as exc:
        TaxIdIn.model_validate_json(json.dumps(body))
    errors = field_errors(exc.value)
    assert [e["field"] for e in errors] == ["number"]
    assert "not a valid FR tax identification number" in errors[0]["reason"]
    assert "054" not in json.dumps(errors)
    ok = TaxIdIn.model_validate_json(json.dumps({**body, "number": "30 23 217 600 053"}))
    assert ok.validated().scheme == "fr.nif"


def test_an_unknown_country_is_reported_on_country():
    with pytest.raises(ValidationError) as exc:
        TaxIdIn.model_validate_json(json.dumps({"country": "XX", "number": "123"}))
    assert [e["field"] for e in field_errors(exc.value)] == ["country"]
