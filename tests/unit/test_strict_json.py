"""The strict JSON parser: what json.loads would accept silently is refused, with its path."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import strict_json
from shared.strict_json import JsonRejected


def rejected(data: bytes | str) -> JsonRejected:
    with pytest.raises(JsonRejected) as info:
        strict_json.loads(data)
    return info.value


def test_a_duplicate_key_is_refused_with_its_path():
    err = rejected(b'{"seller_id": "s", "amount": {"amount": 1000, "currency": "EUR", "amount": 2000}}')
    assert (err.path, err.reason) == ("amount.amount", "duplicate key")


def test_a_duplicate_key_at_the_top_and_inside_lists_is_named():
    assert rejected('{"a": 1, "a": 1}').path == "a"
    assert rejected('{"items": [{"id": 1}, {"id": 2, "id": 3}]}').path == "items[1].id"


def test_deep_nesting_is_refused_before_the_parser_recurses():
    err = rejected("[" * 10_000 + "]" * 10_000)
    assert err.path == "$" and "nested deeper" in err.reason
    assert strict_json.loads("[" * 32 + "]" * 32) is not None


def test_brackets_inside_strings_do_not_count_as_nesting():
    assert strict_json.loads('{"note": "' + "[{" * 100 + '\\"}"}') == {"note": "[{" * 100 + '"}'}


@pytest.mark.parametrize("body", ["NaN", '{"a": Infinity}', "[-Infinity]"])
def test_non_json_numbers_are_refused(body: str):
    assert "not a JSON number" in rejected(body).reason


@pytest.mark.parametrize("body", [b"\xff\xfe", b"{", b"", b'{"a": 1,}', b"1" * 5000])
def test_malformed_bodies_are_refused_at_the_document(body: bytes):
    assert rejected(body).path == "$"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_any_well_formed_document_parses_as_json_loads_would(value: object):
    import json

    assert strict_json.loads(json.dumps(value)) == value
