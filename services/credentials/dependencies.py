"""Who may call what: anyone may verify (limited per address), people read their own or their department's
credentials, supervisors act on them; and the credential a route is about, loaded through the ownership check."""

import uuid
from typing import Annotated

from fastapi import Depends, Path

from auth.guards import Person, Principal, require
from core.db import SessionDep
from core.errors import Forbidden
from services.credentials import service
from services.credentials.models import Credential
from services.credentials.workflow import HOLDER_ALL_KINDS, HOLDER_SCOPE, STAFF_SCOPE

STAFF_ROLES = frozenset({"officer", "supervisor", "talent_officer"})


async def staff(principal: Person) -> Principal:
    """Staff who work permits or talent cards; which credentials they reach is decided by department, per query."""
    if not principal.roles & STAFF_ROLES or not principal.scopes & set(STAFF_SCOPE.values()):
        raise Forbidden(
            "Only staff processing permits (permits:process) or talent cards (talent:review) act on credentials."
        )
    return principal


Staff = Annotated[Principal, Depends(staff)]
# A person listing their own credentials: with a scope that shows them some kind (which kinds, the query decides).
Holder = Annotated[Principal, require(any_scope={HOLDER_ALL_KINDS, *HOLDER_SCOPE.values()}, people_only=True)]
CredentialId = Annotated[uuid.UUID, Path(description="the credential's id")]


async def visible_credential(credential_id: CredentialId, principal: Person, session: SessionDep) -> Credential:
    """The credential if the caller holds it or is staff of its issuing department; otherwise 404."""
    return await service.get(session=session, principal=principal, credential_id=credential_id)


VisibleCredential = Annotated[Credential, Depends(visible_credential)]
