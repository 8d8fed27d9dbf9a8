"""Who reaches the talent API, and the process's cache of compiled rule sets."""

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Request

from auth.guards import Admin, MaybeSignedIn, Principal, public_caller, require
from core.http.idempotency import IdempotencyClaim, idempotency
from services.talent.service import RuleSetCache

# What-if assessments: any person signed in through an app (no scope needed: it reads and writes nothing of theirs).
Person = Annotated[Principal, require(people_only=True)]


async def reader(request: Request, principal: MaybeSignedIn) -> Principal | None:
    """Rule sets are public; anonymous reads are limited per address (a token's reads per caller, by the guard)."""
    if principal is None:
        await public_caller(request)
    return principal


Reader = Annotated[Principal | None, Depends(reader)]


async def _admin_key(principal: Admin) -> str:
    return f"talent:{principal.client_id}:{principal.subject}"


AdminKey = Annotated[IdempotencyClaim | None, Depends(idempotency(_admin_key))]


def rule_set_cache(app: FastAPI) -> RuleSetCache:
    """The app's cache (one per app, so two apps on two databases in one process never share one)."""
    return cache_in(app.state)


def cache_in(state: Any) -> RuleSetCache:
    """The cache kept on an app's state (the worker runs with the app's state too)."""
    cache = getattr(state, "talent_rule_sets", None)
    if cache is None:
        cache = state.talent_rule_sets = RuleSetCache()
    return cache


async def _cache_dependency(request: Request) -> RuleSetCache:
    return rule_set_cache(request.app)


RuleSets = Annotated[RuleSetCache, Depends(_cache_dependency)]

# Talent applications: applicants (talent:apply), the talent office (talent:review), sponsoring employers' partner
# systems (partner:submit). Which applications a caller sees is decided per application (repository.reach).
TalentCaller = Annotated[Principal, require(any_scope={"talent:apply", "talent:review", "partner:submit"})]
TalentApplicant = Annotated[Principal, require(any_scope={"talent:apply", "partner:submit"})]
ApplicationId = Annotated[uuid.UUID, Path(description="the application's id")]
ClaimId = Annotated[uuid.UUID, Path(description="the claim's id")]
EvidenceId = Annotated[uuid.UUID, Path(description="the evidence document's id")]


async def _applicant_key(principal: TalentApplicant) -> str:
    return f"talent:{principal.client_id}:{principal.subject}"


ApplicantKey = Annotated[IdempotencyClaim | None, Depends(idempotency(_applicant_key))]


async def _caller_key(principal: TalentCaller) -> str:
    return f"talent:{principal.client_id}:{principal.subject}"


# For what the talent office writes too (a comment).
CallerKey = Annotated[IdempotencyClaim | None, Depends(idempotency(_caller_key))]


async def _upload_window(request: Request) -> timedelta:
    return timedelta(seconds=request.app.state.settings.upload_url_ttl)


# How long an upload URL can still bring a file: an evidence row started within it holds its place.
UploadWindow = Annotated[timedelta, Depends(_upload_window)]
