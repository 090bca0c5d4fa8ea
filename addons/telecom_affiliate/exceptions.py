from trytond.model.exceptions import ValidationError


class AffiliationError(ValidationError):
    "An affiliation is not valid; nothing was saved."
