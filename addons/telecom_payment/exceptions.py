from trytond.exceptions import UserError


class PrepaidConfigurationError(UserError):
    "The tenant's prepaid accounting is not configured."


class PrepaidKindError(UserError):
    "Balance movements of a kind that nothing books in the accounts."


class TopUpError(UserError):
    "A top-up cannot be made as asked; nothing was changed."


class StaffCreditError(UserError):
    "A staff top-up or adjustment cannot be made as asked; nothing changed."


class VoucherError(UserError):
    "A voucher batch cannot be made as asked; nothing was changed."


class RedemptionError(UserError):
    """A voucher cannot be redeemed; nothing was changed.

    ``reason`` is a short machine-readable word for the API: unknown,
    redeemed, expired, other_tenant, currency, invalid_account."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason
