"""Passwords too easy to guess, refused when they are set (NIST SP 800-63B, 3.1.1.2).

Length alone lets "12345678" and "password1" through, the first guesses of anyone
trying. A new password is refused when, lowercased and without the digits and
punctuation people add at the end, it is:
- one of the passwords people choose most (a short list, below);
- a short pattern repeated ("aaaaaaaa", "abcabcabc", "12341234");
- a run of neighbouring characters or keys ("12345678", "abcdefgh", "qwertyui",
  "1qaz2wsx"), either way round;
- or when it contains the account's own email name or display name.
Sign-in never applies these rules: a password set before them still works.
"""

from __future__ import annotations

#: Runs of neighbouring characters: the alphabet, the digits, keyboard rows and columns.
RUNS = (
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "qazwsxedcrfvtgbyhnujmikolp",
)

#: Words at the top of every list of leaked passwords, as their stems.
COMMON = frozenset(
    (
        *("password", "passw0rd", "p@ssw0rd", "p@ssword", "letmein", "welcome"),
        *("iloveyou", "trustno", "monkey", "dragon", "sunshine", "princess"),
        *("football", "baseball", "superman", "batman", "starwars", "whatever"),
        *("computer", "internet", "changeme", "master", "shadow", "michael"),
        *("jennifer", "charlie", "freedom", "secret", "admin", "administrator"),
        *("login", "access", "qwerty", "azerty", "abc"),
    )
)

#: The shortest email name or display name that counts when found in a password.
CONTEXT_MIN = 4


def too_guessable(password: str, *, context: tuple[str, ...] = ()) -> str | None:
    """Why `password` is too easy to guess, or None. `context`: the account's own words."""
    text = password.lower()
    stem = text.rstrip("0123456789!@#$%^&*.?_-+= ")
    if stem in COMMON or text in COMMON:
        return "is one of the most common passwords"
    for size in range(1, 5):
        if len(text) % size == 0 and text == text[:size] * (len(text) // size):
            return "repeats a short pattern"
    for run in RUNS:
        if text in run or text in run[::-1]:
            return "is a run of neighbouring characters or keys"
    for word in context:
        word = word.lower()
        if len(word) >= CONTEXT_MIN and word in text:
            return "contains the account's email address or name"
    return None
