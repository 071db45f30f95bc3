"""The log redactor masks values (tokens, account numbers), never ordinary words (issue 13, item 11).

The strict side stays strict: ``tests/security/test_privacy.py`` searches every log of a running
stack for account numbers, secrets and tokens, opaque ones included.
"""

from __future__ import annotations

import json
import logging
import secrets

import pytest

from shared import log
from shared.log import redact

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImxvY2FsIn0.eyJzdWIiOiIxMjM0NTY3ODkwIiwiZW1haWwiOiJvcHMifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.mark.parametrize(
    "text",
    [
        "missing bearer token",
        "unauthenticated request refused: missing bearer token",
        'WWW-Authenticate: Bearer realm="payouts"',
        "a bearer token-based scheme",
        "token expired",
        "invalid token",
        "page_token is not valid",
    ],
)
def test_words_are_left_alone(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    "credential",
    [
        JWT,
        secrets.token_hex(32),
        secrets.token_urlsafe(32),
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "abcdefghijklmnopqrstuvwxyzABCD",  # letters only, but credential-long
    ],
)
def test_a_bearer_credential_is_masked(credential: str) -> None:
    for text in (f"Authorization: Bearer {credential}", f"got bearer {credential} from the caller"):
        masked = redact(text)
        assert credential not in masked and "[redacted]" in masked, masked


def test_a_jwt_anywhere_is_masked() -> None:
    assert JWT not in redact(f"token={JWT}")


def test_account_numbers_are_masked_but_not_the_words_around_them() -> None:
    assert redact("paying FR7630006000011234567890189 now") == "paying FR••••0189 now"
    assert redact("account 000123456789 closed") == "account ••••6789 closed"


def test_a_log_line_keeps_its_words_and_masks_its_values() -> None:
    formatter = log.CloudLoggingFormatter()
    record = logging.LogRecord(
        "t", logging.WARNING, __file__, 1, "refused: missing bearer token; got Bearer %s", (JWT,), None
    )
    line = json.loads(formatter.format(record))
    assert line["message"].startswith("refused: missing bearer token; got Bearer [redacted]")
    assert JWT not in json.dumps(line)
