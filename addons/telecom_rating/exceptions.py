from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class RatePlanError(ValidationError):
    "A rate plan is not consistent with its tenant or its parent."


class RateImportError(UserError):
    "A rate deck cannot be imported; nothing was applied."


class RatingError(UserError):
    "CDRs cannot be rated as asked."
