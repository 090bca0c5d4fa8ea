from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class PortalUserError(ValidationError):
    pass


class PortalError(UserError):
    pass
