"""Sellers' tax identification numbers (TINs), checked per issuing country with python-stdnum.

DAC7 asks for each seller's TIN and the country that issued it. A TIN is checked against the
number schemes of its country (check digits, length, format, embedded dates), for an individual
or an entity, and kept in its compact form. A country's schemes are data (``TIN_SCHEMES``): for
each, the stdnum modules that are TINs there, e.g. France: the numéro fiscal (SPI) of a person,
the SIREN of a company. Where stdnum has no module for a country (Malta; Hungarian,
Luxembourgish individuals; Lithuanian entities), the number is accepted after a format check and
marked ``checked=False``, so a report can say which numbers no library verified.

A TIN is personal data: it is a ``SecretStr`` in input, never in an error message, and shown
masked (``FR•••••••••053``) outside the tax report itself.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from types import ModuleType

import pycountry
from pydantic import SecretStr, ValidationInfo, field_validator
from stdnum.exceptions import ValidationError as StdnumValidationError

from shared.domain.countries import CountryCode
from shared.domain.errors import DomainError
from shared.domain.validation import StrictModel


class TaxIdHolder(StrEnum):
    INDIVIDUAL = "individual"
    ENTITY = "entity"


# country -> (schemes for individuals, schemes for entities), as stdnum module paths.
TIN_SCHEMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # the European Union (DAC7)
    "AT": (("at.tin",), ("at.tin",)),
    "BE": (("be.nn", "be.bis"), ("be.vat",)),  # national number / BIS; enterprise number
    "BG": (("bg.egn", "bg.pnf"), ("bg.vat",)),
    "CY": (("cy.vat",), ("cy.vat",)),
    "CZ": (("cz.rc",), ("cz.dic",)),
    "DE": (("de.idnr",), ("de.stnr",)),  # Steuer-IdNr; Steuernummer (a format, no check digit)
    "DK": (("dk.cpr",), ("dk.cvr",)),
    "EE": (("ee.ik",), ("ee.registrikood",)),
    "ES": (("es.nif",), ("es.nif",)),  # DNI, NIE and CIF
    "FI": (("fi.hetu",), ("fi.ytunnus",)),
    "FR": (("fr.nif",), ("fr.siren",)),  # numéro fiscal (SPI); SIREN
    "GR": (("gr.vat",), ("gr.vat",)),  # AFM
    "HR": (("hr.oib",), ("hr.oib",)),
    "HU": ((), ("hu.anum",)),
    "IE": (("ie.pps",), ("ie.vat",)),
    "IT": (("it.codicefiscale",), ("it.iva", "it.codicefiscale")),
    "LT": (("lt.asmens",), ()),
    "LU": ((), ("lu.tva",)),
    "LV": (("lv.pvn",), ("lv.pvn",)),
    "MT": ((), ()),
    "NL": (("nl.bsn",), ("nl.bsn",)),  # BSN; RSIN (same nine digits and eleven-test)
    "PL": (("pl.pesel", "pl.nip"), ("pl.nip",)),
    "PT": (("pt.nif",), ("pt.nif",)),
    "RO": (("ro.cnp",), ("ro.cui",)),
    "SE": (("se.personnummer",), ("se.orgnr",)),
    "SI": (("si.ddv",), ("si.ddv",)),
    "SK": (("sk.rc",), ("sk.dph",)),
    # the marketplace's other countries
    "GB": (("gb.utr",), ("gb.utr",)),
    "US": (("us.ssn", "us.itin"), ("us.ein",)),
    "JP": (("jp.in_",), ("jp.cn",)),
}

# What an unchecked TIN may look like: letters, digits and the usual separators.
_PLAUSIBLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./-]{1,38}[A-Za-z0-9]")


class InvalidTaxId(DomainError):
    def __init__(self, message: str, field: str = "number") -> None:
        super().__init__("invalid_tax_id", message, field)


@cache
def _module(path: str) -> ModuleType:
    return importlib.import_module(f"stdnum.{path}")


def schemes_for(country: str, holder: TaxIdHolder | None) -> tuple[str, ...]:
    individual, entity = TIN_SCHEMES.get(country, ((), ()))
    if holder is TaxIdHolder.INDIVIDUAL:
        return individual
    if holder is TaxIdHolder.ENTITY:
        return entity
    return tuple(dict.fromkeys((*individual, *entity)))


def mask_tax_id(country: str, number: str) -> str:
    visible = min(3, len(number) // 3)
    return f"{country}{'•' * (len(number) - visible)}{number[len(number) - visible :]}"


@dataclass(frozen=True, slots=True, repr=False)
class ValidatedTaxId:
    country: str  # the issuing country
    number: SecretStr  # compact form
    scheme: str | None  # the stdnum module that accepted it, None when no library covers it
    holder: TaxIdHolder | None = None

    @property
    def checked(self) -> bool:
        return self.scheme is not None

    @property
    def masked(self) -> str:
        return mask_tax_id(self.country, self.number.get_secret_value())

    def __repr__(self) -> str:
        return f"ValidatedTaxId(country={self.country!r}, masked={self.masked!r}, scheme={self.scheme!r})"

    def __str__(self) -> str:
        return self.masked

    def to_storage(self) -> dict[str, str | None]:
        """Everything, the number included: for the datastore only."""
        return {
            "country": self.country,
            "number": self.number.get_secret_value(),
            "scheme": self.scheme,
            "holder": self.holder.value if self.holder else None,
        }

    @classmethod
    def from_storage(cls, data: dict[str, str | None]) -> ValidatedTaxId:
        stored_holder = data.get("holder")
        holder = TaxIdHolder(stored_holder) if stored_holder else None
        return validate_tax_id(str(data["country"]), str(data["number"]), holder)


def validate_tax_id(country: str, number: str, holder: TaxIdHolder | None = None) -> ValidatedTaxId:
    """Check ``number`` against the TIN schemes of ``country`` (for ``holder``, or both kinds).
    Raises InvalidTaxId (field ``number``, or ``country``) without echoing the number."""
    if pycountry.countries.get(alpha_2=country) is None:
        raise InvalidTaxId(f"{country!r} is not an ISO 3166-1 alpha-2 country code", "country")
    schemes = schemes_for(country, holder)
    if not schemes:
        text = number.strip()
        if not _PLAUSIBLE.fullmatch(text):
            raise InvalidTaxId(f"not a plausible {country} tax identification number")
        return ValidatedTaxId(country, SecretStr(re.sub(r"[ ./-]", "", text).upper()), None, holder)
    for path in schemes:
        module = _module(path)
        try:
            compact = module.validate(number)
        except StdnumValidationError:
            continue
        return ValidatedTaxId(country, SecretStr(str(compact)), path, holder)
    names = ", ".join(_scheme_name(path) for path in schemes)
    kind = f" for an {holder.value}" if holder else ""
    raise InvalidTaxId(f"not a valid {country} tax identification number{kind} ({names})")


def _scheme_name(path: str) -> str:
    doc = (_module(path).__doc__ or path).strip().splitlines()[0]
    return doc.split(" (")[0].rstrip(".")


class TaxIdIn(StrictModel):
    """``{"country": "FR", "number": "30 23 217 600 053", "holder": "individual"}``: the
    onboarding API's optional ``tax_id``. A number that fails its country's check is a field
    error at ``tax_id.number``."""

    country: CountryCode
    holder: TaxIdHolder | None = None
    number: SecretStr

    @field_validator("number")
    @classmethod
    def _valid_for_country(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        country = info.data.get("country")
        if country is None:  # the country itself was refused: its own error says so
            return value
        validate_tax_id(country, value.get_secret_value(), info.data.get("holder"))
        return value

    def validated(self) -> ValidatedTaxId:
        return validate_tax_id(self.country, self.number.get_secret_value(), self.holder)
