"""The catalogue's shapes: bilingual text, channels, documents, costs, eligibility and the Open311-style form.

Names follow CPSV-AP (PublicService, hasCompetentAuthority, processingTime, hasInput, hasCost, hasChannel), HSDS
(required_documents, fees, eligibility) and Open311 (service_code, attributes with datatype / required / order /
values), so partners can map them without a translation table. Request schemas forbid unknown fields.
"""

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.http.language import Bilingual, Localized
from core.patterns import check_together, compiled

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,62}$", description="stable identifier, e.g. business-licence")]
FieldCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
DepartmentCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")]
Kind = Literal["information", "permit", "talent_benefit"]
Audience = Literal["citizen", "business", "talent"]
Status = Literal["draft", "published", "deprecated", "withdrawn"]
Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
MediaType = Literal["application/pdf", "image/jpeg", "image/png"]
TalentTier = Literal["A", "B", "C"]
Language = Literal["zh-CN", "en"]

# ISO 8601 durations as CPSV-AP uses them: days, weeks, hours (P20D, P2W, PT4H).
ISO_DURATION = re.compile(r"^P(?:(\d+)W|(\d+)D)?(?:T(\d+)H)?$")
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Text(Bilingual):
    """One text in both languages; both are required."""

    zh: str = Field(alias="zh-CN", min_length=1, max_length=4000)
    en: str = Field(min_length=1, max_length=4000)


class ShortText(Text):
    zh: str = Field(alias="zh-CN", min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)


class Keywords(Strict):
    zh: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        alias="zh-CN", default_factory=list, max_length=20
    )
    en: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(default_factory=list, max_length=20)


class Contact(Strict):
    phone: str | None = Field(default=None, pattern=r"^[0-9+\-() ]{5,30}$")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", max_length=200)
    address: Text | None = None
    opening_hours: Text | None = None


class Department(Strict):
    code: DepartmentCode
    name: ShortText
    contact: Contact = Field(default_factory=Contact)


class Channel(Strict):
    """CPSV-AP hasChannel: where the service is delivered."""

    type: Literal["online", "counter", "phone", "mail"]
    description: Text | None = None
    url: str | None = Field(default=None, pattern=r"^https://", max_length=500)
    address: Text | None = None
    phone: str | None = Field(default=None, pattern=r"^[0-9+\-() ]{5,30}$")

    @model_validator(mode="after")
    def _reachable(self) -> "Channel":
        if self.type == "counter" and self.address is None:
            raise ValueError("a counter channel needs an address")
        if self.type == "phone" and self.phone is None:
            raise ValueError("a phone channel needs a phone number")
        return self


class RequiredDocument(Strict):
    """HSDS required_documents / CPSV-AP hasInput (Evidence): one line of the checklist."""

    code: FieldCode
    name: ShortText
    description: Text | None = None
    media_types: list[MediaType] = Field(min_length=1)
    max_size_bytes: int = Field(gt=0, le=MAX_DOCUMENT_BYTES)
    required: bool = True


class WaiverRule(Strict):
    """When a cost is waived; every field present must hold."""

    audiences: list[Audience] | None = None
    talent_tiers: list[TalentTier] | None = None
    max_age: int | None = Field(default=None, ge=0, le=150)
    min_age: int | None = Field(default=None, ge=0, le=150)


class Waiver(Strict):
    code: FieldCode
    description: Text
    rule: WaiverRule


class CostCondition(Strict):
    """When a cost applies, from the applicant's form: a number within [min, max), or one of the listed values."""

    field: FieldCode
    min: float | None = None
    max: float | None = None
    values: list[str] | None = Field(default=None, max_length=50)


class Cost(Strict):
    """CPSV-AP hasCost: an amount in minor units (fen) of a currency, when it applies, and the rules that waive it."""

    code: FieldCode
    amount: int = Field(ge=0, le=100_000_000, description="minor units: 1000 = CNY 10.00")
    currency: Literal["CNY"] = "CNY"
    description: Text
    applies_when: CostCondition | None = Field(default=None, description="absent: the cost always applies")
    waivers: list[Waiver] = Field(default_factory=list, max_length=10)


class EligibilityRules(Strict):
    """Checks a machine can make; the text says the rest."""

    min_age: int | None = Field(default=None, ge=0, le=150)
    max_age: int | None = Field(default=None, ge=0, le=150)
    audiences: list[Audience] | None = None
    talent_tiers: list[TalentTier] | None = None


class Eligibility(Strict):
    description: Text
    rules: EligibilityRules = Field(default_factory=EligibilityRules)


class ValueOption(Strict):
    key: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]
    name: ShortText


class Validation(Strict):
    # Finite: 1e999 reads as infinity, which is stored as null, and the bound the editor wrote was silently gone.
    min: float | None = Field(default=None, allow_inf_nan=False)
    max: float | None = Field(default=None, allow_inf_nan=False)
    pattern: str | None = Field(default=None, max_length=200)
    max_length: int | None = Field(default=None, gt=0, le=10_000)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            compiled(pattern)  # ValueError, saying why, for one that could not be matched in linear time
        return pattern

    @model_validator(mode="after")
    def _satisfiable(self) -> "Validation":
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is more than max: no answer could pass")
        return self


class FormAttribute(Strict):
    """One field of the application form (Open311 service definition attribute)."""

    code: FieldCode
    datatype: Datatype
    required: bool = False
    personal: bool = Field(
        default=False,
        description="personal data (an ID or passport number, a phone, a birth date, a salary, a bank account): "
        "encrypted at rest, shown whole only to the applicant and the officer the application is assigned to, "
        "masked for everyone else; never in lists, the public register or a signed permit",
    )
    order: int = Field(ge=1, le=1000)
    label: ShortText
    description: Text | None = None
    values: list[ValueOption] = Field(default_factory=list, max_length=200)
    validation: Validation = Field(default_factory=Validation)

    @model_validator(mode="after")
    def _values_fit_datatype(self) -> "FormAttribute":
        is_list = self.datatype in ("singlevaluelist", "multivaluelist")
        if is_list and not self.values:
            raise ValueError(f"a {self.datatype} needs values")
        if not is_list and self.values:
            raise ValueError(f"a {self.datatype} takes no values")
        keys = [value.key for value in self.values]
        if len(keys) != len(set(keys)):
            raise ValueError("value keys must be unique")
        if (self.validation.min is not None or self.validation.max is not None) and self.datatype != "number":
            raise ValueError("min / max apply to numbers only")
        # Applications check a pattern and a length on text only: on another datatype they were kept and never
        # checked, so the editor believed answers were held to a format they were not.
        if (self.validation.pattern is not None or self.validation.max_length is not None) and self.datatype not in (
            "string",
            "text",
        ):
            raise ValueError("pattern / max_length apply to string and text only")
        return self


class ProcessingTime(Strict):
    """CPSV-AP processingTime as an ISO 8601 duration, counted in working days where `working_days` says so."""

    duration: str = Field(examples=["P20D"])
    working_days: bool = True

    @field_validator("duration")
    @classmethod
    def _iso(cls, duration: str) -> str:
        if not ISO_DURATION.match(duration) or duration in ("P", "PT"):
            raise ValueError("an ISO 8601 duration in weeks, days or hours, e.g. P20D, P2W, PT4H")
        return duration


class ServiceContent(Strict):
    """Everything an editor writes about a service (one version of it)."""

    department: DepartmentCode
    kind: Kind
    category: Code
    thematic_area: Code | None = None
    audience: list[Audience] = Field(min_length=1)
    title: ShortText
    description: Text
    keywords: Keywords = Field(default_factory=Keywords)
    processing_time: ProcessingTime | None = None
    legal_basis: Text | None = None
    channels: list[Channel] = Field(default_factory=list, max_length=10)
    required_documents: list[RequiredDocument] = Field(default_factory=list, max_length=50)
    costs: list[Cost] = Field(default_factory=list, max_length=20)
    eligibility: Eligibility | None = None
    form: list[FormAttribute] = Field(default_factory=list, max_length=100)
    contact: Contact = Field(default_factory=Contact)

    @model_validator(mode="after")
    def _unique_codes(self) -> "ServiceContent":
        for name in ("form", "required_documents", "costs"):
            codes = [item.code for item in getattr(self, name)]
            duplicates = sorted({code for code in codes if codes.count(code) > 1})
            if duplicates:
                raise ValueError(f"duplicate {name} codes: {', '.join(duplicates)}")
        orders = [attribute.order for attribute in self.form]
        if len(orders) != len(set(orders)):
            raise ValueError("form attributes need distinct `order` values")
        # Each pattern compiles once per process on the loop (core.patterns): bounded each, and for a form together.
        check_together([attribute.validation.pattern for attribute in self.form if attribute.validation.pattern])
        fields = {attribute.code for attribute in self.form}
        for cost in self.costs:
            if cost.applies_when and cost.applies_when.field not in fields:
                raise ValueError(f"cost {cost.code} depends on {cost.applies_when.field}, which is not in the form")
        return self


class ServiceCreate(ServiceContent):
    code: Code


class ServiceUpdate(ServiceContent):
    """A draft is replaced whole (PUT semantics): the editor sends the service as it should read."""


# In a response, keywords are in the language asked for, or {"zh-CN": [...], "en": [...]} with lang=all.
LocalizedList = list[str] | dict[str, list[str]]


class ServiceRead(BaseModel):
    """A service version as the API returns it: text in one language, or in both (lang=all)."""

    id: uuid.UUID
    code: str
    version: int
    status: Status
    department: str
    kind: str
    category: str
    thematic_area: str | None
    audience: list[str]
    title: Localized
    description: Localized
    keywords: LocalizedList
    processing_time: dict[str, Any] | None
    legal_basis: Localized | None
    channels: list[dict[str, Any]]
    required_documents: list[dict[str, Any]]
    costs: list[dict[str, Any]]
    eligibility: dict[str, Any] | None
    form: list[dict[str, Any]]
    contact: dict[str, Any]
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    allowed_actions: list[str] = Field(default_factory=list)
    actual_processing_time: dict[str, Any] | None = Field(
        default=None,
        description=(
            "observed median and 90th percentile, in the days the promised time counts (working days where it says "
            "so), paused time left out, from the applications decided in the last year; none from fewer than five"
        ),
    )


class ServiceSummary(BaseModel):
    code: str
    version: int
    status: str
    department: str
    kind: str
    category: str
    audience: list[str]
    title: Localized
    summary: Localized
    processing_time: dict[str, Any] | None
    updated_at: datetime = Field(description="when this version last changed (published, deprecated, withdrawn)")
    score: float | None = Field(default=None, description="search relevance, when searching")


class DepartmentRead(BaseModel):
    code: str
    name: Localized
    contact: dict[str, Any]
    version: int
