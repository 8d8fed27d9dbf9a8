"""Patterns staff write into data (a form field's format), matched in time linear in the text, whatever the pattern.

Python's `re` backtracks: a catalogue editor's `^(a+)+$` held the event loop for seconds on 27 characters of a
citizen's answer, doubling with each one more, and every request of the process waited. RE2 never backtracks; it
refuses what needs to (backreferences, lookaround), which is then refused when the pattern is written.

Patterns are written, and were matched for a while, in Python's dialect, so they are read in it: `\\d`, `\\w` and `\\s`
are Unicode classes there (a Chinese name is `\\w`, a full-width digit `\\d`) where RE2's are ASCII, and `\\uXXXX` and
`\\Z` are spelled `\\x{XXXX}` and `\\z` in RE2. `_in_re2` rewrites those before compiling.
"""

import logging
import re
from functools import lru_cache
from typing import Any

import re2

logger = logging.getLogger("ti.patterns")

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is the writer's 422, not a line on the server's stderr
# Compiling runs on the event loop, holding the GIL, in time that grows with the program: a Unicode class repeated
# makes it big (\w{1000} took half a second, and one editor's form of such fields held a process for 17 s). So a
# pattern may use RE2's default 8 MB (past it, compiling gives up within ~50 ms) and at most MAX_PROGRAM
# instructions (about \w{1,74}, compiled within ~40 ms); a form's patterns together at most MAX_FORM_PROGRAM. A
# length is bounded with the field's max_length, not with a repeat count.
_OPTIONS.max_mem = 8 << 20
MAX_PROGRAM = 100_000
MAX_FORM_PROGRAM = 300_000
TOO_BIG = r"too big to check quickly: write the characters allowed (say ^[\w·]+$) and bound the length with max_length"

# Python's meaning of an escape, in RE2's words: outside a character class, and inside one, where only members can
# be listed (so \W and \S, which RE2 could only say as a negated class, are refused there; [\b] is a backspace).
_WORD, _SPACE = r"\p{L}\p{N}_", r"\s\v\x1c-\x1f\x85\p{Z}"
_OUTSIDE = {
    "d": r"\p{Nd}",
    "D": r"\P{Nd}",
    "w": f"[{_WORD}]",
    "W": f"[^{_WORD}]",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
    "Z": r"\z",
}
_INSIDE = {"d": r"\p{Nd}", "D": r"\P{Nd}", "w": _WORD, "s": _SPACE, "b": r"\x08"}
_NOT_IN_A_CLASS = {"W", "S"}
_CODE_POINT = {"u": re.compile(r"[0-9A-Fa-f]{4}"), "U": re.compile(r"[0-9A-Fa-f]{8}")}
_OPEN_BOUND = re.compile(r"\{,(\d*)\}")  # Python's {,n} (and {,}): RE2 reads it as text


def _in_re2(pattern: str) -> str:
    """The pattern, read as Python reads it, written as RE2 reads it."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            letter = pattern[i + 1]
            digits = _CODE_POINT.get(letter)
            if digits and (found := digits.match(pattern, i + 2)):
                out.append(f"\\x{{{found.group()}}}")
                i = found.end()
                continue
            if in_class and letter in _NOT_IN_A_CLASS:
                raise ValueError(f"\\{letter} inside [...] cannot be matched in linear time; write [^...] instead")
            out.append((_INSIDE if in_class else _OUTSIDE).get(letter, char + letter))
            i += 2
            continue
        if char == "[" and in_class:
            out.append(r"\[")  # a member: Python has no [:alpha:] classes, RE2 would read one
        elif char == "{" and not in_class and (bound := _OPEN_BOUND.match(pattern, i)):
            out.append(f"{{0,{bound.group(1)}}}")
            i = bound.end()
            continue
        elif char == "[" and not in_class:
            in_class = True
            out.append(char)
            # A "]" first in the class (after an optional "^") is a member, not its end.
            start = i + 1 + (pattern[i + 1 : i + 2] == "^")
            if pattern[start : start + 1] == "]":
                out.append(pattern[i + 1 : start + 1])
                i = start + 1
                continue
        elif char == "]" and in_class:
            in_class = False
            out.append(char)
        else:
            out.append(char)
        i += 1
    return "".join(out)


@lru_cache(maxsize=64)
def _compile(pattern: str) -> tuple[Any, str | None]:
    """(the compiled pattern, None), or (None, why RE2 cannot run it); refusals cached as well."""
    try:
        regex = re2.compile(_in_re2(pattern), _OPTIONS)
    except ValueError as exc:
        return None, str(exc)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return (
            None,
            TOO_BIG if "too large" in reason else f"not a pattern that can be checked in linear time ({reason})",
        )
    return (regex, None) if regex.programsize <= MAX_PROGRAM else (None, TOO_BIG)


def compiled(pattern: str) -> Any:
    """The pattern, ready to match; ValueError (saying why) when it is not one RE2 runs."""
    regex, refusal = _compile(pattern)
    if regex is None:
        raise ValueError(refusal)
    return regex


def full_match(pattern: str, text: str) -> bool | None:
    """Whether `text` matches the whole pattern; None when the pattern cannot be checked (stored before patterns were
    checked for RE2: the caller decides)."""
    regex, _refusal = _compile(pattern)
    return None if regex is None else regex.fullmatch(text) is not None


def check_together(patterns: list[str]) -> None:
    """ValueError when the patterns of one form would take too long to compile all together (each compiles)."""
    if sum(compiled(pattern).programsize for pattern in patterns) > MAX_FORM_PROGRAM:
        raise ValueError(f"the form's patterns are, together, {TOO_BIG}")
