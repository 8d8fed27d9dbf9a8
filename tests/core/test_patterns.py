"""Patterns staff write into forms are matched in linear time, and one that could not be is refused when written."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.patterns import full_match
from services.catalogue.schemas import ServiceContent, Validation
from services.permits import forms

ROOT = Path(__file__).resolve().parents[2]
EVIL = r"^(a+)+$"  # catastrophic for a backtracking matcher: each more "a" doubles its time


def test_a_catastrophic_pattern_is_checked_at_once() -> None:
    """Run apart, so that the backtracking this replaced would be killed at the timeout instead of hanging the run."""
    script = (
        "from services.permits import forms;"
        f"field = {{'code': 'x', 'datatype': 'string', 'validation': {{'pattern': {EVIL!r}}}}};"
        "print(forms.check({'x': 'a' * 60 + '!'}, [field], complete=True)[0].detail)"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "does not have the expected format", done.stderr


def test_form_patterns_still_check_formats() -> None:
    field = {"code": "phone", "datatype": "string", "validation": {"pattern": r"^1[3-9]\d{9}$"}}
    assert forms.check({"phone": "13800000001"}, [field], complete=True) == []
    assert [e.field for e in forms.check({"phone": "1380000000x"}, [field], complete=True)] == ["form.phone"]


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)a", r"(?<!x)y", "(unclosed", r"[\W]", r"[^\S]"])
def test_a_pattern_that_needs_backtracking_or_is_broken_is_refused_when_written(pattern: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Validation(pattern=pattern)
    assert "linear time" in str(refused.value)


def test_the_catalogues_own_patterns_are_all_accepted() -> None:
    """Every pattern of the seeded catalogue compiles for the linear-time matcher."""
    data = json.loads((ROOT / "services/catalogue/data/talent_island.json").read_text())
    patterns: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            patterns.update([value["pattern"]] if isinstance(value.get("pattern"), str) else [])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    assert len(patterns) >= 5
    for pattern in patterns:
        assert Validation(pattern=pattern).pattern == pattern


@pytest.mark.parametrize(
    ("pattern", "passes", "fails"),
    [
        (r"^[\w·]{2,20}$", ["张三", "Zoë", "阿卜杜·热合曼"], ["a", "x y"]),  # \w is Unicode, as in Python
        (r"^\d{6}$", ["529000", "５２９０００"], ["52900a"]),  # \d too (full-width digits)
        (r"^[\u4e00-\u9fa5]{2,5}$", ["陈明明"], ["Chen", "陈"]),  # \uXXXX, which RE2 spells \x{XXXX}
        (r"^\d{17}[\dX]\Z", ["44070319900101002X"], ["44070319900101002Y"]),  # \Z, RE2's \z
        (r"^[]a]+$", ["]a]"], ["b"]),  # a "]" first in a class is a member
        (r"^\s+$", ["\u3000 \t", "\x0b\x1c\x85"], ["x"]),  # \s takes the ideographic space, \v, \x1c-\x1f, \x85
        (r"^[\D]+$", ["abc"], ["１"]),  # \D in a class is Unicode too
        (r"[[:alpha:]]", ["a]", ":]"], ["a"]),  # no POSIX classes in Python: "[" a member, then "]"
        (r"^a{,3}$", ["aa", ""], ["aaaa", "a{,3}"]),  # {,n} is {0,n}
        (r"^[\b]$", ["\x08"], ["b"]),  # [\b] is a backspace
        (r"^\w{1,70}$", ["中" * 70], ["中" * 71]),  # big, but within what a pattern may be
    ],
)
@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")  # Python's own note on "[[:alpha:]]"
def test_patterns_mean_what_they_meant_in_python(pattern: str, passes: list[str], fails: list[str]) -> None:
    for text in passes:
        assert full_match(pattern, text), (pattern, text)
        assert re.fullmatch(pattern, text), (pattern, text)  # as Python's own matcher reads it
    for text in fails:
        assert not full_match(pattern, text), (pattern, text)
        assert not re.fullmatch(pattern, text), (pattern, text)


def test_a_stored_pattern_that_cannot_be_checked_takes_the_answer_unchecked() -> None:
    field = {"code": "x", "datatype": "string", "validation": {"pattern": r"(a)\1"}}
    assert full_match(r"(a)\1", "aa") is None
    assert forms.check({"x": "anything"}, [field], complete=True) == []


@pytest.mark.parametrize("pattern", [r"^\w{1,1000}$", r"\w{1000}\w{1000}", r"(\w{100}){10}", r"^[\w\s]{1,200}$"])
def test_a_pattern_too_big_to_compile_quickly_is_refused_with_advice(pattern: str) -> None:
    """Compiling holds the event loop: \\w{1000}\\w{1000} took a second, and a form of eight such fields held a
    process for 17 s. Past its budget a pattern is refused, quickly, saying how to write it instead."""
    with pytest.raises(ValidationError, match=r"too big to check quickly.*max_length"):
        Validation(pattern=pattern)


def test_a_form_whose_patterns_are_too_big_together_is_refused() -> None:
    """Each fits, but a form of them would take long to compile (each citizen's save, once the cache moved on)."""
    service = json.loads((ROOT / "services/catalogue/data/talent_island.json").read_text())["services"][0]
    content = {key: value for key, value in service.items() if key not in ("code", "costs")}
    field = {**next(f for f in service["form"] if f["datatype"] == "string"), "required": False}
    form = [
        {**field, "code": f"name_{n}", "order": n, "validation": {"pattern": r"^[\w（）()·]{2,50}$"}}
        for n in range(1, 6)
    ]
    ServiceContent.model_validate({**content, "form": form[:4]})
    with pytest.raises(ValidationError, match="the form's patterns are, together, too big"):
        ServiceContent.model_validate({**content, "form": form})
