"""Patterns staff write into data (a form field's format), matched in time linear in the text, whatever the pattern.

Python's `re` backtracks: a catalogue editor's `^(a+)+$` held the event loop for seconds on 27 characters of a
citizen's answer, doubling with each one more, and every request of the process waited. RE2 never backtracks; it
refuses what needs to (backreferences, lookaround), which is then refused when the pattern is written.
"""

from functools import lru_cache
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is the writer's 422, not a line on the server's stderr


@lru_cache(maxsize=1024)
def compiled(pattern: str) -> Any:
    """The pattern, ready to match; ValueError (saying why) when it is not one RE2 runs."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"not a pattern that can be checked in linear time ({reason})") from None


def full_match(pattern: str, text: str) -> bool:
    return compiled(pattern).fullmatch(text) is not None
