from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class ChargeError(ValidationError):
    "A recurring charge or a feature price is not valid."


class BillingError(UserError):
    "A billing run cannot be made as asked; nothing was changed."


class DocumentError(UserError):
    "An invoice cannot be approved or sent as asked; nothing was changed."


class PeppolIdError(ValidationError):
    "A Peppol participant id is not written as scheme:identifier."
