"""Strict JSON: the one parser for every body, message and webhook the platform accepts.

A money system must not guess, so this refuses what ``json.loads`` quietly accepts:

- a duplicate key in an object (``{"amount": 1000, "amount": 2000}``: json keeps the last);
- nesting deeper than ``MAX_DEPTH`` (Python's parser would raise ``RecursionError`` far below
  any body-size cap);
- ``NaN``, ``Infinity`` and ``-Infinity``, which are not JSON;
- bytes that are not UTF-8, and integers too long for Python to convert.

Each refusal is a :class:`JsonRejected` with the JSON path of the problem (``$`` for the
document, ``amount.amount``, ``items[2].id``) and a reason, ready for an error body.

Pydantic models still validate the body: :func:`check` first, then ``model_validate_json`` (which
keeps its JSON-mode coercions of dates and times), or :func:`loads` for code that wants the value.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32


class JsonRejected(ValueError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class _Pairs(list[tuple[str, Any]]):
    """An object as parsed, pairs in order, duplicates kept so that their path can be named."""


def _refuse_constant(name: str) -> Any:
    raise JsonRejected("$", f"{name} is not a JSON number")


def _depth_check(text: str, max_depth: int) -> None:
    """Refuse deep nesting before the recursive parser sees it (a string's brackets don't count)."""
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                raise JsonRejected("$", f"nested deeper than {max_depth} levels")
        elif ch in "]}":
            depth -= 1


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return key if path == "$" else f"{path}.{key}"


def _build(value: Any, path: str) -> Any:
    """Turn parsed pairs into dicts, refusing the first duplicate key with its path."""
    if isinstance(value, _Pairs):
        out: dict[str, Any] = {}
        for key, item in value:
            if key in out:
                raise JsonRejected(_join(path, key), "duplicate key")
            out[key] = _build(item, _join(path, key))
        return out
    if isinstance(value, list):
        return [_build(item, _join(path, i)) for i, item in enumerate(value)]
    return value


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data`` strictly (see the module docstring); raise :class:`JsonRejected`."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonRejected("$", "not UTF-8") from exc
    else:
        text = data
    _depth_check(text, max_depth)
    try:
        parsed = json.loads(text, object_pairs_hook=_Pairs, parse_constant=_refuse_constant)
    except JsonRejected:
        raise
    except (ValueError, RecursionError) as exc:
        raise JsonRejected("$", f"not valid JSON: {exc}") from exc
    return _build(parsed, "$")


def check(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse what :func:`loads` refuses; for callers that validate with a pydantic model next."""
    loads(data, max_depth=max_depth)
