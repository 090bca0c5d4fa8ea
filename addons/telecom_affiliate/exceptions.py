from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class AffiliationError(ValidationError):
    "An affiliation is not valid; nothing was saved."


class AffiliateCreditError(UserError):
    "An affiliate's balance credit cannot be booked."
