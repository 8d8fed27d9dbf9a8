"""Errors of the catalogue (problem+json through core.errors)."""

from core.errors import Conflict, NotFound, ValidationFailed


class ServiceNotFound(NotFound):
    code, title = "service-not-found", "No such service"


class DepartmentNotFound(NotFound):
    code, title = "department-not-found", "No such department"


class ServiceCodeTaken(Conflict):
    code, title = "service-code-taken", "A service with this code exists"


class DraftExists(Conflict):
    code, title = "draft-exists", "This service already has a draft"


class NotADraft(Conflict):
    code, title = "not-a-draft", "Only a draft can be changed; published versions never change"


class IncompleteService(ValidationFailed):
    code, title = "incomplete-service", "The service is missing what publishing needs"


class DepartmentTaken(Conflict):
    code, title = "department-taken", "A department with this code exists"
