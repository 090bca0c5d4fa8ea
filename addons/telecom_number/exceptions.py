from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class NumberImportError(UserError):
    "A number file has errors; nothing of it was imported."


class NumberStateError(ValidationError):
    "A number in this state cannot take the requested change."
