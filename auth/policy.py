"""Passwords: argon2id at the OWASP minimum, and a strength check that refuses what attackers try first.

OWASP's minimum for argon2id is any of several equivalent settings; 7 MiB with 5 passes and 1 lane measured ~15 ms per
verification on this machine kind, which keeps a password login well inside the 60 logins/s the pilot needs on two
workers. The check follows NIST SP 800-63B: length, not composition rules, plus a list of breached and predictable
choices (the name of this service among them, as NIST asks) and the person's own identifiers.
"""

import asyncio
import re
import unicodedata
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from starlette.concurrency import run_in_threadpool

HASHER = PasswordHasher(time_cost=5, memory_cost=7 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)
MIN_LENGTH = 10
MAX_LENGTH = 128

# Verified when the account does not exist, so "no such account" takes as long as "wrong password".
_DUMMY_HASH = HASHER.hash("no such account, but the same amount of work")

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "qwertyuiopasdfghjklzxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "qazwsxedcrfvtgbyhnujmikolp",
)


@cache
def _common() -> frozenset[str]:
    path = Path(__file__).with_name("data") / "common-passwords.txt"
    return frozenset(line.strip() for line in path.read_text().splitlines() if line and not line.startswith("#"))


def hash_password(password: str) -> str:
    return HASHER.hash(password)


class HashingGate:
    """At most `slots` password hashes at once in this process.

    argon2id is memory-hard on purpose: dozens of 7 MiB hashes interleaved on two cores evict each other from the CPU
    caches and every one of them gets slower. Queueing the excess keeps each hash fast, so more logins finish.
    """

    def __init__(self, slots: int) -> None:
        self._semaphore = asyncio.Semaphore(slots)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        async with self._semaphore:
            return await run_in_threadpool(verify_password, password_hash, password)

    async def hash(self, password: str) -> str:
        async with self._semaphore:
            return await run_in_threadpool(hash_password, password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists (pass None for a missing account)."""
    try:
        return HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return HASHER.check_needs_rehash(password_hash)


def _core(password: str) -> str:
    """The password as a guesser sees it: lower case, de-leeted, without the digits and symbols people append."""
    lowered = unicodedata.normalize("NFKC", password).lower()
    stripped = re.sub(r"[\W_\d]+$", "", lowered) or lowered
    return stripped.translate(_LEET)


def _is_sequence(text: str) -> bool:
    if len(text) < 4:
        return False
    return any(text in sequence or text in sequence[::-1] for sequence in _SEQUENCES)


def password_problems(password: str, *, identifiers: tuple[str, ...] = ()) -> list[str]:
    """What is wrong with a new password, in plain English (empty when it is acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters")
    if len(set(password)) < 5:
        problems.append("uses too few different characters")
    lowered = password.lower()
    core = _core(password)
    if lowered in _common() or core in _common() or re.sub(r"\W", "", lowered) in _common():
        problems.append("is one of the passwords attackers try first")
    elif _is_sequence(re.sub(r"\W", "", lowered)) or _is_sequence(core):
        problems.append("is a keyboard or alphabet sequence")
    for identifier in identifiers:
        for part in re.split(r"[\s.@_-]+", identifier.lower()):
            if len(part) >= 4 and part in lowered:
                problems.append("must not contain your name, username or phone number")
                break
        else:
            continue
        break
    return problems
