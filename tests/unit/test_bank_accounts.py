"""Bank accounts: checked per country by schwifty / python-stdnum, never leaked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.domain.bank_accounts import (
    AuBecsAccount,
    BankAccountInput,
    CaEftAccount,
    IbanAccount,
    JpZenginAccount,
    UsAbaAccount,
    ValidatedBankAccount,
    ca_routing_number,
    mask_account_number,
    validate_bank_account,
)
from shared.domain.countries import load_country_rules
from shared.domain.errors import InvalidBankAccount

REGISTRY = load_country_rules()
CASES = json.loads((Path(__file__).parent / "country_cases.json").read_text("utf-8"))["countries"]
BANK_ACCOUNT = TypeAdapter[BankAccountInput](BankAccountInput)

# Published example IBANs (checked with schwifty, national check digits included).
VALID_IBANS = {
    "FR": "FR1420041010050500013M02606",
    "DE": "DE89370400440532013000",
    "ES": "ES9121000418450200051332",
    "IT": "IT60X0542811101000000123456",
    "NL": "NL91ABNA0417164300",
    "BE": "BE68539007547034",
    "GB": "GB29NWBK60161331926819",
    "SE": "SE4550000000058398257466",
    "PL": "PL61109010140000071219812874",
    "DK": "DK5000400440116243",
    "CZ": "CZ6508000000192000145399",
    "CH": "CH9300762011623852957",
    "NO": "NO9386011117947",
    "HU": "HU42117730161111101800000000",
}


def iban_account(iban: str, bic: str | None = None, holder_name: str = "Alex Martin") -> IbanAccount:
    return IbanAccount(scheme="iban", holder_name=holder_name, iban=iban, bic=bic)  # type: ignore[arg-type]


def us_account(routing: str = "021000021", number: str = "123456789", kind: str = "checking") -> UsAbaAccount:
    return UsAbaAccount.model_validate(
        {
            "scheme": "us_aba",
            "holder_name": "Alex Martin",
            "routing_number": routing,
            "account_number": number,
            "account_type": kind,
        }
    )


def jp_account(bank: str = "0001", branch: str = "001", number: str = "1234567") -> JpZenginAccount:
    return JpZenginAccount.model_validate(
        {
            "scheme": "jp_zengin",
            "holder_name": "ヤマダ タロウ",
            "bank_code": bank,
            "branch_code": branch,
            "account_number": number,
            "account_type": "ordinary",
        }
    )


def au_account(bsb: str = "062-000", number: str = "12345678") -> AuBecsAccount:
    return AuBecsAccount.model_validate(
        {"scheme": "au_becs", "holder_name": "Alex Martin", "bsb": bsb, "account_number": number}
    )


def ca_account(
    institution: str = "001", transit: str = "00011", number: str = "1234567", kind: str = "checking"
) -> CaEftAccount:
    return CaEftAccount.model_validate(
        {
            "scheme": "ca_eft",
            "holder_name": "Alex Martin",
            "institution_number": institution,
            "transit_number": transit,
            "account_number": number,
            "account_type": kind,
        }
    )


def invalid(account, country: str) -> InvalidBankAccount:
    with pytest.raises(InvalidBankAccount) as err:
        validate_bank_account(account, REGISTRY.get(country))
    assert err.value.code == "invalid_bank_account"
    return err.value


# --- Every country's sample account -----------------------------------------------------------


@pytest.mark.parametrize("country", sorted(CASES))
def test_each_country_accepts_its_sample_account(country):
    case = CASES[country]
    account = BANK_ACCOUNT.validate_json(json.dumps(case["valid_bank_account"]))
    validated = validate_bank_account(account, REGISTRY.get(country))
    assert (validated.country, validated.masked) == (country, case["masked"])
    assert validated.scheme == REGISTRY.get(country).bank_account_scheme


# --- IBAN -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("country", "iban"), sorted(VALID_IBANS.items()))
def test_valid_ibans(country, iban):
    spaced = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)).lower()
    validated = validate_bank_account(iban_account(spaced), REGISTRY.get(country))
    assert validated.iban is not None and validated.iban.get_secret_value() == iban  # normalised
    assert validated.masked == f"{country}••••{iban[-4:]}"


@pytest.mark.parametrize(
    ("iban", "reason"),
    [
        ("DE89370400440532013001", "check digits"),  # one digit off
        ("DE88370400440532013000", "check digits"),
        ("DE8937040044053201300", "length"),  # one digit missing
        ("DE893704004405320130000", "length"),
        ("DE89 3704 0044 0532 0130 0!", "characters"),
        ("XX89370400440532013000", "country"),
        ("", "characters"),
    ],
)
def test_invalid_ibans(iban, reason):
    err = invalid(iban_account(iban or " "), "DE")
    assert err.field == "bank_account.iban"
    assert reason in err.message


def test_national_check_digits_are_verified():
    # Valid ISO 13616 check digits around a wrong French RIB key: only the national check catches it.
    err = invalid(iban_account("FR8420041010050500013M02607"), "FR")
    assert "national check digits" in err.message


def test_iban_of_another_country_is_refused():
    err = invalid(iban_account(VALID_IBANS["ES"]), "FR")
    assert err.field == "bank_account.iban"
    assert err.message == "IBAN country ES does not match seller country FR"


def test_bic_is_normalised_and_must_match_the_iban_country():
    validated = validate_bank_account(
        iban_account(VALID_IBANS["DE"], bic="coba de ff xxx"), REGISTRY.get("DE")
    )
    assert validated.bic == "COBADEFFXXX"
    err = invalid(iban_account(VALID_IBANS["DE"], bic="BNPAFRPP"), "DE")
    assert (err.field, err.message) == ("bank_account.bic", "BIC country FR does not match IBAN country DE")


@pytest.mark.parametrize("bic", ["COBADEFF1", "COBAXXFF", "CO"])
def test_malformed_bic(bic):
    assert invalid(iban_account(VALID_IBANS["DE"], bic=bic), "DE").field == "bank_account.bic"


def test_the_scheme_must_be_the_country_scheme():
    err = invalid(us_account(), "FR")
    assert err.field == "bank_account.scheme"
    assert "iban" in err.message
    assert invalid(iban_account(VALID_IBANS["DE"]), "US").field == "bank_account.scheme"
    assert invalid(iban_account(VALID_IBANS["DE"]), "JP").field == "bank_account.scheme"


def test_field_prefix_can_be_changed():
    with pytest.raises(InvalidBankAccount) as err:
        validate_bank_account(iban_account("DE00"), REGISTRY.get("DE"), field_prefix="data.payout_account")
    assert err.value.field == "data.payout_account.iban"


# --- US ---------------------------------------------------------------------------------------


def test_us_routing_numbers():
    validated = validate_bank_account(us_account("021000021", "1234-5678 9"), REGISTRY.get("US"))
    assert (validated.routing_number, validated.masked) == ("021000021", "US••••6789")
    assert validated.account_number is not None and validated.account_number.get_secret_value() == "123456789"
    assert "check digit" in invalid(us_account("021000022"), "US").message
    assert invalid(us_account("02100002"), "US").field == "bank_account.routing_number"
    assert invalid(us_account("02100002A"), "US").field == "bank_account.routing_number"


@pytest.mark.parametrize("number", ["123", "123456789012345678", "12345678A", "", "----"])
def test_us_account_numbers_are_4_to_17_digits(number):
    assert invalid(us_account(number=number or " "), "US").field == "bank_account.account_number"


# --- Japan ------------------------------------------------------------------------------------


def fullwidth(digits: str) -> str:
    """ "0001" typed on a Japanese keyboard: U+FF10 to U+FF19."""
    return "".join(chr(0xFF10 + int(digit)) for digit in digits)


def test_japanese_accounts_accept_full_width_digits():
    validated = validate_bank_account(
        jp_account(fullwidth("0001"), fullwidth("001"), fullwidth("1234567")), REGISTRY.get("JP")
    )
    assert (validated.bank_code, validated.branch_code, validated.masked) == ("0001", "001", "JP••••4567")


@pytest.mark.parametrize(
    ("bank", "branch", "number", "field"),
    [
        ("001", "001", "1234567", "bank_code"),
        ("00011", "001", "1234567", "bank_code"),
        ("0001", "01", "1234567", "branch_code"),
        ("0001", "0A1", "1234567", "branch_code"),
        ("0001", "001", "123456", "account_number"),
        ("0001", "001", "12345678", "account_number"),
    ],
)
def test_japanese_digit_patterns(bank, branch, number, field):
    assert invalid(jp_account(bank, branch, number), "JP").field == f"bank_account.{field}"


# --- Australia (BSB + account number) and Canada (institution + transit + account number) -----


def test_australian_accounts():
    validated = validate_bank_account(au_account("062-000", "1234 5678"), REGISTRY.get("AU"))
    assert (validated.scheme, validated.bsb, validated.masked) == ("au_becs", "062000", "AU••••5678")
    assert validated.account_number is not None and validated.account_number.get_secret_value() == "12345678"
    au = REGISTRY.get("AU")
    assert validate_bank_account(au_account(number="12345"), au).masked == "AU••••345"  # at most half
    assert validate_bank_account(au_account(number="123456789"), REGISTRY.get("AU")).masked == "AU••••6789"


@pytest.mark.parametrize(
    ("bsb", "number", "field"),
    [
        ("06200", "12345678", "bsb"),  # 5 digits
        ("0620001", "12345678", "bsb"),
        ("06A000", "12345678", "bsb"),
        ("062000", "1234", "account_number"),  # 4 digits: Adyen's auLocal takes 5 to 9
        ("062000", "1234567890", "account_number"),
        ("062000", "12345X78", "account_number"),
    ],
)
def test_invalid_australian_accounts(bsb, number, field):
    assert invalid(au_account(bsb, number), "AU").field == f"bank_account.{field}"


def test_canadian_accounts():
    validated = validate_bank_account(ca_account("001", "000-11", "123-4567"), REGISTRY.get("CA"))
    assert (validated.institution_number, validated.transit_number) == ("001", "00011")
    assert (validated.scheme, validated.masked, validated.account_type) == (
        "ca_eft",
        "CA••••4567",
        "checking",
    )
    assert ca_routing_number(validated) == "000100011"  # 0 + institution + transit: the EFT routing number
    with pytest.raises(ValueError, match="not a Canadian account"):
        ca_routing_number(validate_bank_account(au_account(), REGISTRY.get("AU")))


@pytest.mark.parametrize(
    ("institution", "transit", "number", "field"),
    [
        ("01", "00011", "1234567", "institution_number"),
        ("0011", "00011", "1234567", "institution_number"),
        ("001", "0011", "1234567", "transit_number"),
        ("001", "000111", "1234567", "transit_number"),
        ("001", "0001A", "1234567", "transit_number"),
        ("001", "00011", "1234", "account_number"),  # Adyen's caLocal: 5 to 12 digits
        ("001", "00011", "1234567890123", "account_number"),
    ],
)
def test_invalid_canadian_accounts(institution, transit, number, field):
    assert invalid(ca_account(institution, transit, number), "CA").field == f"bank_account.{field}"


def test_new_schemes_belong_to_their_country():
    assert invalid(au_account(), "US").field == "bank_account.scheme"
    assert invalid(ca_account(), "AU").field == "bank_account.scheme"
    assert invalid(iban_account(VALID_IBANS["SE"]), "CA").field == "bank_account.scheme"


@pytest.mark.parametrize(
    ("country", "iban", "reason"),
    [
        ("SE", "SE4550000000058398257467", "check digits"),
        ("PL", "PL61109010140000071219812875", "check digits"),
        ("PL", "PL6110901014000007121981287", "length"),
        ("CH", "CH9300762011623852958", "check digits"),
        ("NO", "NO9386011117948", "check digits"),
        ("HU", "HU4211773016111110180000000", "length"),
        ("CZ", "CZ6508000000192000145398", "check digits"),
        ("DK", "DK500040044011624", "length"),
    ],
)
def test_invalid_ibans_of_the_new_countries(country, iban, reason):
    err = invalid(iban_account(iban), country)
    assert err.field == "bank_account.iban"
    assert reason in err.message


@pytest.mark.parametrize(
    ("iban", "country"),
    [
        # Valid ISO 13616 check digits around a wrong national check digit: only schwifty's
        # national algorithms catch these (Poland's bank-code digit, Norway's mod 11).
        ("PL36109010150000071219812874", "PL"),
        ("NO6686011117948", "NO"),
    ],
)
def test_national_check_digits_of_the_new_countries(iban, country):
    assert "national check digits" in invalid(iban_account(iban), country).message


# --- Input models -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"scheme": "iban", "holder_name": "A", "iban": "DE89370400440532013000", "extra": 1},
        {"scheme": "iban", "holder_name": "", "iban": "DE89370400440532013000"},
        {"scheme": "iban", "holder_name": "   ", "iban": "DE89370400440532013000"},
        {"scheme": "iban", "holder_name": "A\nB", "iban": "DE89370400440532013000"},
        {"scheme": "iban", "holder_name": "A" * 141, "iban": "DE89370400440532013000"},
        {"scheme": "iban", "holder_name": "A"},
        {"scheme": "swift", "holder_name": "A", "iban": "DE89370400440532013000"},
        {"holder_name": "A", "iban": "DE89370400440532013000"},
        {
            "scheme": "us_aba",
            "holder_name": "A",
            "routing_number": "021000021",
            "account_number": 123456789,  # strict: a number is not text
            "account_type": "checking",
        },
        {
            "scheme": "us_aba",
            "holder_name": "A",
            "routing_number": "021000021",
            "account_number": "123456789",
            "account_type": "brokerage",
        },
    ],
)
def test_input_models_are_strict(data):
    with pytest.raises(ValidationError):
        BANK_ACCOUNT.validate_json(json.dumps(data))


def test_holder_name_is_stripped():
    assert iban_account(VALID_IBANS["DE"], holder_name="  Alex Martin ").holder_name == "Alex Martin"


# --- Secrets stay secret ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mask_input", "masked"),
    [
        (("DE", "DE89370400440532013000"), "DE••••3000"),
        (("US", "123456789"), "US••••6789"),
        (("JP", "1234567"), "JP••••4567"),
        (("US", "1234"), "US••••34"),  # never more than half of a short number
        (("US", "12345"), "US••••345"),
        (("AU", "12345678"), "AU••••5678"),
        (("CA", "1234567"), "CA••••4567"),
        (("HU", "HU42117730161111101800000000"), "HU••••0000"),
    ],
)
def test_mask_account_number(mask_input, masked):
    assert mask_account_number(*mask_input) == masked


SECRET_CASES = [
    ("DE", iban_account(VALID_IBANS["DE"]), "370400440532013000"),
    ("US", us_account(number="987654321"), "987654321"),
    ("JP", jp_account(number="7654321"), "7654321"),
    ("AU", au_account(number="987654321"), "987654321"),
    ("CA", ca_account(number="987654321012"), "987654321012"),
    ("HU", iban_account(VALID_IBANS["HU"]), "117730161111101800000000"),
]


@pytest.mark.parametrize(("country", "account", "secret"), SECRET_CASES)
def test_full_numbers_never_show_in_repr_or_str(country, account, secret):
    validated = validate_bank_account(account, REGISTRY.get(country))
    for text in (repr(account), str(account), account.model_dump_json(), repr(validated), str(validated)):
        assert secret not in text
        assert secret[:-4] not in text
    assert (
        repr(validated) == f"ValidatedBankAccount(scheme={validated.scheme!r}, masked={validated.masked!r})"
    )
    assert secret[-4:] in validated.masked


def test_error_messages_never_contain_the_number():
    bad = "DE89370400440532013001"
    err = invalid(iban_account(bad), "DE")
    assert bad[4:] not in str(err) and bad[4:] not in repr(err)
    err = invalid(iban_account("DE89 3704 0044 0532 0130 0!"), "DE")
    assert "370400440532" not in str(err)


def test_validation_errors_of_the_models_hide_the_input():
    with pytest.raises(ValidationError) as err:
        UsAbaAccount.model_validate(
            {
                "scheme": "us_aba",
                "holder_name": "A",
                "routing_number": "021000021",
                "account_number": "9" * 41,
                "account_type": "checking",
            }
        )
    assert "9" * 17 not in str(err.value)


# --- Fingerprints and storage -----------------------------------------------------------------


def test_fingerprint_is_stable_across_formatting_and_holder_name():
    de = REGISTRY.get("DE")
    first = validate_bank_account(iban_account("DE89 3704 0044 0532 0130 00"), de)
    second = validate_bank_account(iban_account("de89370400440532013000", holder_name="A. Martin"), de)
    assert first.fingerprint == second.fingerprint
    assert len(first.fingerprint) == 64 and int(first.fingerprint, 16) >= 0  # sha256 hex
    assert "370400440532013000" not in first.fingerprint


def test_fingerprint_differs_between_accounts():
    us = REGISTRY.get("US")
    accounts = [
        validate_bank_account(iban_account(VALID_IBANS["DE"]), REGISTRY.get("DE")),
        validate_bank_account(iban_account(VALID_IBANS["FR"]), REGISTRY.get("FR")),
        validate_bank_account(us_account(number="123456789"), us),
        validate_bank_account(us_account(number="123456780"), us),
        validate_bank_account(us_account(routing="011000015"), us),
        validate_bank_account(us_account(kind="savings"), us),
        validate_bank_account(jp_account(), REGISTRY.get("JP")),
        validate_bank_account(jp_account(branch="002"), REGISTRY.get("JP")),
        validate_bank_account(au_account(), REGISTRY.get("AU")),
        validate_bank_account(au_account(bsb="062001"), REGISTRY.get("AU")),
        validate_bank_account(ca_account(), REGISTRY.get("CA")),
        validate_bank_account(ca_account(transit="00012"), REGISTRY.get("CA")),
        validate_bank_account(ca_account(institution="002"), REGISTRY.get("CA")),
        validate_bank_account(ca_account(kind="savings"), REGISTRY.get("CA")),
    ]
    assert len({account.fingerprint for account in accounts}) == len(accounts)


@pytest.mark.parametrize(("country", "account", "secret"), SECRET_CASES)
def test_storage_round_trip(country, account, secret):
    validated = validate_bank_account(account, REGISTRY.get(country))
    stored = validated.to_storage()
    assert secret in json.dumps(stored, ensure_ascii=False)  # the datastore keeps the full number
    assert stored["masked"] == validated.masked and stored["fingerprint"] == validated.fingerprint
    restored = ValidatedBankAccount.from_storage(stored)
    assert restored == validated
    assert restored.fingerprint == validated.fingerprint


def test_from_storage_refuses_unknown_schemes():
    with pytest.raises(ValueError, match="scheme"):
        ValidatedBankAccount.from_storage({"scheme": "bitcoin"})


@pytest.mark.parametrize(
    ("account", "field"),
    [
        ({"scheme": "au_becs", "holder_name": "A", "account_number": "12345678"}, "bank_account.bsb"),
        (
            {
                "scheme": "ca_eft",
                "holder_name": "A",
                "institution_number": "001",
                "account_number": "1234567",
            },
            "bank_account.transit_number",
        ),
    ],
)
def test_error_paths_of_the_new_schemes_name_the_field(account, field):
    from shared.domain.sellers import SellerIn
    from shared.domain.validation import field_errors

    body = {"country": "AU", "currency": "AUD", "display_name": "A", "bank_account": account}
    with pytest.raises(ValidationError) as err:
        SellerIn.model_validate_json(json.dumps(body))
    assert field in [e["field"] for e in field_errors(err.value)]
