"""Who reaches the permits API, and the cloud ports it uses. Which applications a caller sees, and which actions they
may take, is decided per application (service.may, repository.reach): a scope only opens the door."""

import uuid
from typing import Annotated

from fastapi import Depends, Path

from auth.guards import Principal, require
from core.http.idempotency import IdempotencyClaim, idempotency

# Citizens (permits:apply), officers and supervisors (permits:process), partner systems (partner:submit).
PermitsCaller = Annotated[Principal, require(any_scope={"permits:apply", "permits:process", "partner:submit"})]
# Those who file applications: a citizen for themselves, a partner for a citizen it represents.
Applicant = Annotated[Principal, require(any_scope={"permits:apply", "partner:submit"})]
ApplicationId = Annotated[uuid.UUID, Path(description="the application's id")]
DocumentId = Annotated[uuid.UUID, Path(description="the document's id")]


async def _caller_key(principal: PermitsCaller) -> str:
    return f"permits:{principal.client_id}:{principal.subject}"


ApplicantKey = Annotated[IdempotencyClaim | None, Depends(idempotency(_caller_key))]
