from trytond.model.exceptions import ValidationError


class RoutingPolicyError(ValidationError):
    "A routing policy names carriers or a tenant it may not use."
