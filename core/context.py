"""Who and what the current request is, for logs and the audit trail, without passing it through every call."""

from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    """The party behind a change: a person (subject), the client app they used, and the network address."""

    subject: str | None = None
    client_id: str | None = None
    address: str | None = None


_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_actor: ContextVar[Actor | None] = ContextVar("actor", default=None)
_NOBODY = Actor()


def current_request_id() -> str | None:
    return _request_id.get()


def bind_request_id(request_id: str | None) -> Token[str | None]:
    return _request_id.set(request_id)


def unbind_request_id(token: Token[str | None]) -> None:
    _request_id.reset(token)


def current_actor() -> Actor:
    return _actor.get() or _NOBODY


def bind_actor(actor: Actor) -> Token[Actor | None]:
    """Set by the request middleware (address) and by the auth guard (subject, client) for this task."""
    return _actor.set(actor)


def unbind_actor(token: Token[Actor | None]) -> None:
    _actor.reset(token)
