"""Errors of permit applications (problem+json through core.errors)."""

from core.errors import Conflict, NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed


class ApplicationNotFound(NotFound):
    code, title = "application-not-found", "No such application"


class ServiceNotApplicable(ValidationFailed):
    code, title = "service-not-applicable", "This service does not take applications"


class InvalidForm(ValidationFailed):
    code, title = "form-invalid", "The form has errors"


class ActionRefused(Conflict):
    code, title = "action-refused", "The application is not ready for this action"


class NotEditable(Conflict):
    code, title = "application-not-editable", "Only a draft can be changed"


class DocumentNotFound(NotFound):
    code, title = "document-not-found", "No such document"


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


class PaymentNotDue(Conflict):
    code, title = "payment-not-due", "Nothing is due for this application now"
