from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class ProductError(ValidationError):
    "A telecom product is not set up consistently."


class SubscriptionError(ValidationError):
    "A subscription is not valid; nothing was saved."


class OrderError(UserError):
    "A shop order cannot be made as asked; nothing was changed."


class MinutePackError(UserError):
    "A minute pack cannot be credited to the account's bundle."
