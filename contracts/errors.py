"""Business failures raised by workflows and mapped to HTTP statuses in one place by the API."""

from enum import StrEnum


class ErrorType(StrEnum):
    STAGE_CONFLICT = "StageConflict"
    ROLE_FORBIDDEN = "RoleForbidden"
    MAKER_CHECKER = "MakerChecker"
    INVALID_PAYLOAD = "InvalidPayload"
    LISTING_ACTIVE = "ListingActive"
    # Answered exactly like a hazard that does not exist: jurisdiction must not reveal what is outside it.
    OUT_OF_JURISDICTION = "OutOfJurisdiction"
