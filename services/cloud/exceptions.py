"""Errors of the cloud adapter and its callbacks (problem+json through core.errors)."""

from core.errors import (
    BadGateway,
    Conflict,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)


class CloudError(BadGateway):
    """The cloud answered with an error (its `Error.Code` is kept); for callers, an upstream failure."""

    code, title = "cloud-error", "The government cloud refused the call"

    def __init__(self, *, service: str, action: str, cloud_code: str, message: str, request_id: str | None) -> None:
        super().__init__(f"{service}.{action}: {cloud_code}", extra={"cloud_code": cloud_code})
        self.service, self.action, self.cloud_code = service, action, cloud_code
        self.cloud_message, self.cloud_request_id = message, request_id


class CloudUnavailable(ServiceUnavailable):
    """Timeouts, connection failures or retryable errors until the retry budget ran out, or an open breaker."""

    code, title = "cloud-unavailable", "A government cloud service is unavailable; try again later"

    def __init__(self, *, service: str, action: str, reason: str, retry_after: int = 30) -> None:
        super().__init__(
            f"{service}.{action}: {reason}", headers={"Retry-After": str(retry_after)}, extra={"service": service}
        )
        self.service, self.action, self.reason = service, action, reason


class CallbackUnauthorized(Unauthorized):
    code, title = "callback-signature-invalid", "The callback is not signed by the cloud"


class CallbackReplayed(Conflict):
    code, title = "callback-replayed", "This signed callback was already received"


class CallbackUnknownObject(Conflict):
    code, title = "callback-unknown-object", "The callback names nothing we sent yet; deliver it again later"


class IdentityCheckFailed(ValidationFailed):
    code, title = "identity-check-failed", "The name and ID number could not be verified"


# Checks of an uploaded document (shared by every domain that takes documents through presigned storage).


class DocumentNotUploaded(Conflict):
    code, title = "document-not-uploaded", "The file has not arrived in storage"


class DocumentChanged(Conflict):
    code, title = "document-changed", "The stored file changed after it was confirmed"


class DocumentChecksumMismatch(ValidationFailed):
    code, title = "document-checksum-mismatch", "The stored file is not the one described"


class DocumentTypeRefused(UnsupportedMediaType):
    code, title = "document-type-refused", "This kind of file is not accepted here"


class DocumentTooLarge(PayloadTooLarge):
    code, title = "document-too-large", "The file is larger than this document allows"
