"""Errors of credentials (problem+json through core.errors)."""

from core.errors import Conflict, NotFound, ValidationFailed


class CredentialNotFound(NotFound):
    code, title = "credential-not-found", "No such credential"


class CredentialNumberTaken(Conflict):
    code, title = "credential-number-taken", "A credential with this number exists"


class AlreadyIssued(Conflict):
    code, title = "credential-already-issued", "This subject already has a credential in force"


class InvalidCredential(ValidationFailed):
    code, title = "credential-invalid", "The credential cannot be issued as given"


class MalformedToken(ValidationFailed):
    code, title = "credential-token-malformed", "This is not a credential token or QR code content"
