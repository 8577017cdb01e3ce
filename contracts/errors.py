"""Business failures raised by workflows and mapped to HTTP statuses in one place by the API."""

from enum import StrEnum


class ErrorType(StrEnum):
    STAGE_CONFLICT = "StageConflict"
    ROLE_FORBIDDEN = "RoleForbidden"
    MAKER_CHECKER = "MakerChecker"
    INVALID_PAYLOAD = "InvalidPayload"
    LISTING_ACTIVE = "ListingActive"
