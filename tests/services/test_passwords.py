"""New passwords too easy to guess are refused, with the reason; others pass."""

from __future__ import annotations

import pytest

from myapp.services.passwords import too_guessable

COMMON = "is one of the most common passwords"
PATTERN = "repeats a short pattern"
RUN = "is a run of neighbouring characters or keys"
OWN = "contains the account's email address or name"


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("12345678", RUN),
        ("87654321", RUN),
        ("abcdefgh", RUN),
        ("qwertyui", RUN),
        ("QWERTYUIOP", RUN),
        ("1qaz2wsx", RUN),
        ("lkjhgfds", RUN),
        ("password", COMMON),
        ("password1", COMMON),
        ("Password123!", COMMON),
        ("letmein!", COMMON),
        ("qwerty123", COMMON),
        ("aaaaaaaa", PATTERN),
        ("abcabcabc", PATTERN),
        ("12341234", PATTERN),
        ("annabel-2026", OWN),
        ("Lovelace is me", OWN),
    ],
)
def test_guessable_passwords_are_named(password, why):
    assert too_guessable(password, context=("annabel", "Ada", "Lovelace")) == why


@pytest.mark.parametrize(
    "password",
    ["correct horse 7", "cafécrème", "Tr0ub4dor&3", "1q2w3e4r5t6y7u8i9o0p-x", "ada's garden"],
)
def test_ordinary_passwords_pass(password):
    # "ada" is shorter than the 4 letters a name word needs to count.
    assert too_guessable(password, context=("annabel", "Ada", "Lovelace")) is None
