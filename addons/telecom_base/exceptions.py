from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class TenancyError(ValidationError):
    "A record would cross the wall between two tenants."


class NumberFormatError(ValidationError):
    "A telephone number is not a valid E.164 number."


class ClaimConflictError(ValidationError):
    """A number, SIP address or credential is already claimed by another
    account."""


class FeatureLimitError(ValidationError):
    "An account would exceed the maximum count of a feature."


class AccountStateError(UserError):
    "An account in this state cannot take the requested change."
