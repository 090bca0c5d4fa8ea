"""Prepaid money configuration, per tenant (company): where the ledger of
prepaid balances and the settlement of prepaid invoices land in the
tenant's books, the low-balance threshold and the largest top-up
accepted."""
from trytond.model import ModelSingleton, ModelSQL, ModelView, fields
from trytond.modules.company.model import (
    CompanyMultiValueMixin, CompanyValueMixin)
from trytond.pool import Pool
from trytond.pyson import Eval

_FIELDS = {
    'prepaid_journal', 'prepaid_account', 'call_revenue_account',
    'topup_account', 'voucher_account', 'prepaid_usage_account',
    'low_balance_threshold', 'topup_maximum'}


def _account(string, help):
    return fields.Many2One(
        'account.account', string, ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ('type', '!=', None),
            ('closed', '!=', True),
            ],
        help=help)


class Configuration(
        ModelSingleton, ModelSQL, ModelView, CompanyMultiValueMixin):
    "Telecom Prepaid Configuration"
    __name__ = 'telecom.payment.configuration'
    prepaid_journal = fields.MultiValue(fields.Many2One(
            'account.journal', "Prepaid Journal",
            help="The journal of the entries of prepaid balances."))
    prepaid_account = fields.MultiValue(fields.Many2One(
            'account.account', "Prepaid Balances Account",
            help="The liability account holding what prepaid customers "
            "have paid and not yet spent; one balance per customer."))
    call_revenue_account = fields.MultiValue(fields.Many2One(
            'account.account', "Call Revenue Account",
            help="The revenue account of prepaid calls (and of their "
            "refunds when calls are re-rated)."))
    topup_account = fields.MultiValue(fields.Many2One(
            'account.account', "Top-up Receipts Account",
            help="Where settled top-up payments land (bank or gateway "
            "clearing account)."))
    voucher_account = fields.MultiValue(fields.Many2One(
            'account.account', "Vouchers Sold Account",
            help="The liability for vouchers sold and not yet redeemed; "
            "a redemption moves the value to the customer's balance."))
    prepaid_usage_account = fields.MultiValue(fields.Many2One(
            'account.account', "Prepaid Usage Invoiced Account",
            help="A clearing account for the usage lines of prepaid "
            "customers' invoices: their calls were booked as call revenue "
            "when rated, so the invoice credits this account instead and "
            "its payment from the balance debits it back (it stays at 0)."))
    low_balance_threshold = fields.MultiValue(fields.Numeric(
            "Low Balance Threshold", digits=(16, 4),
            help="When a movement takes a prepaid balance below this, the "
            "customer gets one e-mail. An account may set its own."))
    topup_maximum = fields.MultiValue(fields.Numeric(
            "Top-up Maximum", digits=(16, 4),
            help="The largest single top-up accepted (empty: no limit)."))

    @classmethod
    def multivalue_model(cls, field):
        pool = Pool()
        if field in _FIELDS:
            return pool.get('telecom.payment.configuration.company')
        return super().multivalue_model(field)


class ConfigurationCompany(ModelSQL, CompanyValueMixin):
    "Telecom Prepaid Configuration per Company"
    __name__ = 'telecom.payment.configuration.company'
    prepaid_journal = fields.Many2One(
        'account.journal', "Prepaid Journal", ondelete='RESTRICT')
    prepaid_account = _account(
        "Prepaid Balances Account", "A liability account, party required.")
    call_revenue_account = _account("Call Revenue Account", None)
    topup_account = _account("Top-up Receipts Account", None)
    voucher_account = _account("Vouchers Sold Account", None)
    prepaid_usage_account = _account(
        "Prepaid Usage Invoiced Account", "A clearing account, no party.")
    low_balance_threshold = fields.Numeric(
        "Low Balance Threshold", digits=(16, 4))
    topup_maximum = fields.Numeric("Top-up Maximum", digits=(16, 4))
