from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class PortalUserError(ValidationError):
    pass


class PortalError(UserError):
    pass


class OnboardingError(UserError):
    "An onboarding wizard cannot create what was asked; nothing was created."
