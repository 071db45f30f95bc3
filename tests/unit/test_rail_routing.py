"""The choice of a rail as a pure rule (shared/domain/rail_routing.py)."""

from __future__ import annotations

import pytest

from shared.domain.countries import load_country_rules
from shared.domain.rail_capabilities import load_rail_capabilities
from shared.domain.rail_routing import PassedRail, PayoutToRoute, RailConditions, RailPass, choose_rail

RULES = load_country_rules()
CAPS = load_rail_capabilities()


def payout(country="SE", currency="SEK", scheme="iban", amount=10_000, accounts=("stripe_account",)):
    return PayoutToRoute(country, currency, scheme, amount, frozenset(accounts))


def reasons(choice):
    return [(p.rail, p.reason) for p in choice.passed]


def test_the_first_rail_that_can_take_it():
    choice = choose_rail(RULES.get("SE"), CAPS, payout(), RailConditions())
    assert (choice.rail, choice.passed, choice.batch) == ("adyen", (), False)


def test_each_rail_passed_over_says_why():
    conditions = RailConditions(drained=frozenset({"adyen"}))
    choice = choose_rail(RULES.get("SE"), CAPS, payout(accounts=()), conditions)
    assert choice.rail == "sandbox"
    assert reasons(choice) == [("adyen", RailPass.DRAINED), ("stripe", RailPass.MISSING_RAIL_ACCOUNT)]


def test_an_open_circuit_and_an_avoided_rail_are_passed_over():
    conditions = RailConditions(open_circuits=frozenset({"adyen"}))
    avoid = [PassedRail("stripe", RailPass.NOT_ACCEPTED, "429")]
    choice = choose_rail(RULES.get("SE"), CAPS, payout(), conditions, avoid)
    assert choice.rail == "sandbox"
    assert reasons(choice) == [("adyen", RailPass.CIRCUIT_OPEN), ("stripe", RailPass.NOT_ACCEPTED)]


def test_a_rail_that_cannot_pay_the_scheme_or_currency_is_unsupported():
    jp = RULES.get("JP").model_copy(update={"rails": ("adyen", "stripe", "sandbox")})
    choice = choose_rail(jp, CAPS, payout("JP", "JPY", "jp_zengin"), RailConditions())
    assert choice.rail == "sandbox"
    assert reasons(choice) == [("adyen", RailPass.UNSUPPORTED), ("stripe", RailPass.UNSUPPORTED)]


@pytest.mark.parametrize(("amount", "rail"), [(50_000, "adyen"), (50_001, "stripe")])
def test_a_rail_limit_here(amount, rail):
    se = RULES.get("SE").model_copy(update={"rail_limits": {"adyen": 50_000}})
    assert choose_rail(se, CAPS, payout(amount=amount), RailConditions()).rail == rail


def test_no_rail_at_all_waits_only_when_a_pass_may_change():
    au = RULES.get("AU")
    drained = RailConditions(drained=frozenset({"adyen", "sandbox"}))
    choice = choose_rail(au, CAPS, payout("AU", "AUD", "au_becs"), drained)
    assert choice.rail is None and choice.waits
    only_stripe = RULES.get("SE").model_copy(update={"rails": ("stripe",)})
    choice = choose_rail(only_stripe, CAPS, payout(accounts=()), RailConditions())
    assert choice.rail is None and not choice.waits
    assert choice.summary() == "stripe: missing_rail_account (the seller has no stripe_account)"


def test_a_batch_rail_is_chosen_as_batch_and_only_where_configured():
    fr = RULES.get("FR").model_copy(update={"rails": ("sepa_file", "sandbox")})
    p = payout("FR", "EUR")
    assert choose_rail(fr, CAPS, p, RailConditions()).batch
    without = RailConditions(configured=frozenset({"sandbox", "adyen", "stripe"}))
    choice = choose_rail(fr, CAPS, p, without)
    assert choice.rail == "sandbox" and reasons(choice) == [("sepa_file", RailPass.NOT_CONFIGURED)]
