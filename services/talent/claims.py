"""What a person claims about themselves, as the points engine reads it: one model per claim kind.

A claim says whether it is `verified`; the engine counts verified claims only. Age is never a claim: a `birth_date`
claim is, and the engine derives the age from it and the assessment date. Amounts are CNY (yuan), whole numbers.
Level scales are ordered lowest first; a level's position is its rank within its own scale.
"""

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

EDUCATION_LEVELS = ("bachelor", "master", "doctorate")
AWARD_LEVELS = ("provincial", "national", "international")
CEFR_LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")
HSK_LEVELS = tuple(f"HSK{n}" for n in range(1, 10))  # HSK 3.0 has nine levels
SENIORITY_LEVELS = ("junior", "professional", "senior", "executive")

EducationLevel = Literal["bachelor", "master", "doctorate"]
AwardLevel = Literal["provincial", "national", "international"]
LanguageLevel = Literal[CEFR_LEVELS + HSK_LEVELS]  # type: ignore[valid-type]
Seniority = Literal["junior", "professional", "senior", "executive"]

# The ordered scale of each level field: a level's rank is its index within the scale it belongs to.
LEVEL_SCALES: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("education", "level"): (EDUCATION_LEVELS,),
    ("award", "level"): (AWARD_LEVELS,),
    ("language", "level"): (CEFR_LEVELS, HSK_LEVELS),
    ("employment", "seniority"): (SENIORITY_LEVELS,),
}
LEVEL_RANK: dict[tuple[str, str], dict[str, int]] = {
    key: {level: rank for scale in scales for rank, level in enumerate(scale)} for key, scales in LEVEL_SCALES.items()
}
LEVEL_SCALE_OF: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    key: {level: scale for scale in scales for level in scale} for key, scales in LEVEL_SCALES.items()
}

Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. CN")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Year = Annotated[int, Field(ge=1900, le=2200)]
Amount = Annotated[int, Field(ge=0, le=1_000_000_000, description="CNY (yuan)")]
Day = Annotated[date, Field(ge=date(1900, 1, 1), le=date(2200, 12, 31))]


def _kind_required(schema: dict[str, Any]) -> None:
    """A request must name each claim's kind: it is the discriminator of the claim unions, which OpenAPI requires to
    be a required property (the default only spares Python code from repeating the class's own kind)."""
    schema["required"] = ["kind", *schema.get("required", [])]


class ClaimBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_kind_required)

    verified: bool = Field(description="only verified claims count; in a what-if, say what would be verified")
    ref: str | None = Field(
        default=None, max_length=64, description="the caller's own id for the claim; the engine ignores it"
    )


class EducationClaim(ClaimBase):
    kind: Literal["education"] = "education"
    level: EducationLevel
    institution: Name
    institution_rank: int | None = Field(
        default=None, ge=1, le=10_000, description="world rank of the institution (e.g. QS); none if unranked"
    )
    country: Country | None = None
    discipline: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9_]{1,39}$", description="e.g. engineering, medicine, computer_science"
    )
    year: Year = Field(description="year the degree was conferred")


class EmploymentClaim(ClaimBase):
    kind: Literal["employment"] = "employment"
    employer: Name
    role: Name
    start: Day
    end: Day | None = Field(default=None, description="none: still employed there")
    country: Country | None = None
    region: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_-]{1,39}$", description="e.g. jiangmen")
    seniority: Seniority | None = None

    @model_validator(mode="after")
    def _period(self) -> "EmploymentClaim":
        if self.end is not None and self.end < self.start:
            raise ValueError("end is before start")
        return self


class SalaryClaim(ClaimBase):
    """An annual salary, or a monthly one backed by a full 12-month (tax) record; a monthly salary with a shorter
    record is accepted as a claim but scores nothing."""

    kind: Literal["salary"] = "salary"
    year: Year
    annual_amount: Amount | None = None
    monthly_amount: Amount | None = None
    months_recorded: int | None = Field(default=None, ge=1, le=12, description="months of records behind it")

    @model_validator(mode="after")
    def _one_amount(self) -> "SalaryClaim":
        if (self.annual_amount is None) == (self.monthly_amount is None):
            raise ValueError("give exactly one of annual_amount and monthly_amount")
        if self.monthly_amount is not None and self.months_recorded is None:
            raise ValueError("a monthly amount needs months_recorded")
        return self

    @property
    def annual(self) -> int | None:
        """The annual amount the engine uses: as given, or twelve months of a fully recorded monthly salary."""
        if self.annual_amount is not None:
            return self.annual_amount
        return self.monthly_amount * 12 if self.months_recorded == 12 and self.monthly_amount is not None else None


class AwardClaim(ClaimBase):
    kind: Literal["award"] = "award"
    level: AwardLevel
    name: Name
    year: Year | None = None


class PatentClaim(ClaimBase):
    kind: Literal["patent"] = "patent"
    type: Literal["invention", "utility", "design"]
    granted: bool
    title: str | None = Field(default=None, max_length=300)


class PublicationClaim(ClaimBase):
    kind: Literal["publication"] = "publication"
    type: Literal["journal", "conference", "book", "chapter"]
    indexed: bool = Field(description="indexed by SCI, SSCI, EI or a comparable index")
    title: str | None = Field(default=None, max_length=300)


class LanguageClaim(ClaimBase):
    kind: Literal["language"] = "language"
    language: str = Field(pattern=r"^[a-z]{2,3}$", description="ISO 639 code, e.g. zh, en")
    level: LanguageLevel = Field(description="CEFR A1-C2, or HSK1-HSK9 for Chinese")


class BirthDateClaim(ClaimBase):
    kind: Literal["birth_date"] = "birth_date"
    date: Day


Claim = Annotated[
    EducationClaim
    | EmploymentClaim
    | SalaryClaim
    | AwardClaim
    | PatentClaim
    | PublicationClaim
    | LanguageClaim
    | BirthDateClaim,
    Field(discriminator="kind"),
]

CLAIM_KINDS = ("education", "employment", "salary", "award", "patent", "publication", "language", "birth_date")

# The fields a criterion may filter claims by (`where`), with their types; `current` is derived (an employment that
# has begun by the assessment date and has no end, or ends on or after it).
FILTER_FIELDS: dict[str, dict[str, type]] = {
    "education": {
        "level": str,
        "institution": str,
        "institution_rank": int,
        "country": str,
        "discipline": str,
        "year": int,
    },
    "employment": {
        "employer": str,
        "role": str,
        "country": str,
        "region": str,
        "seniority": str,
        "current": bool,
    },
    "salary": {"year": int},
    "award": {"level": str, "name": str, "year": int},
    "patent": {"type": str, "granted": bool},
    "publication": {"type": str, "indexed": bool},
    "language": {"language": str, "level": str},
    "birth_date": {},
}

# Numeric fields that `max` and `latest` read.
NUMBER_FIELDS: dict[str, frozenset[str]] = {"salary": frozenset({"annual_amount"})}
