"""The application form checked against the pinned service version's form (Open311-style attributes).

Types, value lists, min / max, pattern and length are checked on every save, so a draft never holds a value of the
wrong shape; `required` is checked when the application is submitted. Every problem is a field error at `form.<code>`.
"""

import logging
import math
from datetime import datetime
from typing import Any

from core.errors import FieldError, field_error
from core.patterns import full_match

MAX_TEXT = 10_000
logger = logging.getLogger("ti.permits")


def check(form: dict[str, Any], attributes: list[dict[str, Any]], *, complete: bool) -> list[FieldError]:
    """Field errors of `form` (empty when it is fine); with `complete`, missing required fields are errors too."""
    by_code = {attribute["code"]: attribute for attribute in attributes}
    errors = [
        field_error(f"form.{code}", "not a field of this service's form", code="unknown")
        for code in sorted(set(form) - set(by_code))
    ]
    for code, attribute in by_code.items():
        value = form.get(code)
        if blank(value):
            if complete and attribute.get("required"):
                errors.append(field_error(f"form.{code}", "required", code="missing"))
            continue
        problem = _problem(value, attribute)
        if problem:
            errors.append(field_error(f"form.{code}", problem, code="invalid"))
    return errors


def blank(value: Any) -> bool:
    """An answer not given: absent, empty text or an empty list."""
    return value is None or value == "" or value == []


def answered(form: dict[str, Any]) -> dict[str, Any]:
    """The answers given (blanks left out)."""
    return {code: value for code, value in form.items() if not blank(value)}


def carried(form: dict[str, Any], attributes: list[dict[str, Any]]) -> dict[str, Any]:
    """The answers of `form` that these attributes still ask for and accept: what a renewal carries over from the
    permit it renews (a field since dropped, or an answer a new version no longer takes, is asked again)."""
    by_code = {attribute["code"]: attribute for attribute in attributes}
    return {code: value for code, value in form.items() if code in by_code and _problem(value, by_code[code]) is None}


# How a personal answer is shown to whoever may not see it (as the talent claims' figures are).
MASK = "***"


def personal(attributes: list[dict[str, Any]]) -> frozenset[str]:
    """The codes of the fields the form marks personal (sealed at rest, masked for all but two readers)."""
    return frozenset(attribute["code"] for attribute in attributes if attribute.get("personal"))


def split(form: dict[str, Any], codes: frozenset[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answers that may be stored plain, and the personal ones (to be sealed)."""
    plain = {code: value for code, value in form.items() if code not in codes}
    return plain, {code: value for code, value in form.items() if code in codes}


def masked(answers: dict[str, Any]) -> dict[str, Any]:
    """Personal answers hidden (a blank stays blank: that nothing was given is no secret)."""
    return {code: value if blank(value) else MASK for code, value in answers.items()}


def unmasked(form: dict[str, Any], personal: dict[str, Any]) -> dict[str, Any]:
    """`form` as sent by someone shown the personal answers masked: an answer sent back masked is the one stored."""
    return {
        code: personal[code] if value == MASK and not blank(personal.get(code)) else value
        for code, value in form.items()
    }


def _matches(pattern: str, value: str) -> bool:
    matched = full_match(pattern, value)
    if matched is None:
        # A pattern stored before patterns were checked (one needing backtracking): the answer is taken unchecked
        # rather than refused, and the department is to write the pattern again.
        logger.warning("form pattern cannot be checked", extra={"pattern": pattern[:200]})
        return True
    return matched


def _problem(value: Any, attribute: dict[str, Any]) -> str | None:
    datatype = attribute["datatype"]
    validation = attribute.get("validation") or {}
    keys = {option["key"] for option in attribute.get("values", [])}
    if datatype in ("string", "text"):
        if not isinstance(value, str):
            return "must be text"
        limit = validation.get("max_length") or (200 if datatype == "string" else MAX_TEXT)
        if len(value) > limit:
            return f"at most {limit} characters"
        if validation.get("pattern") and not _matches(validation["pattern"], value):
            return "does not have the expected format"
        return None
    if datatype == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return "must be a number"  # JSON parsing lets NaN and Infinity through; they are not numbers here
        if validation.get("min") is not None and value < validation["min"]:
            return f"at least {validation['min']:g}"
        if validation.get("max") is not None and value > validation["max"]:
            return f"at most {validation['max']:g}"
        return None
    if datatype == "datetime":
        if not isinstance(value, str):
            return "must be an ISO 8601 date or date-time"
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return "must be an ISO 8601 date or date-time"
        return None
    if datatype == "singlevaluelist":
        return None if isinstance(value, str) and value in keys else f"one of: {', '.join(sorted(keys))}"
    if datatype == "multivaluelist":
        if not isinstance(value, list) or not all(isinstance(item, str) and item in keys for item in value):
            return f"a list of: {', '.join(sorted(keys))}"
        return "no value twice" if len(value) != len(set(value)) else None
    return "unsupported field type"
