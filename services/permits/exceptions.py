"""Errors of permit applications (problem+json through core.errors)."""

from core.errors import Conflict, NotFound, ValidationFailed
from services.cloud.exceptions import (  # noqa: F401  (re-exported: the checks of an upload are shared)
    DocumentChanged,
    DocumentChecksumMismatch,
    DocumentNotUploaded,
    DocumentTooLarge,
    DocumentTypeRefused,
)


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


class RenewalUnderWay(Conflict):
    code, title = "renewal-under-way", "This permit is being renewed already"


class PaymentNotDue(Conflict):
    code, title = "payment-not-due", "Nothing is due for this application now"
