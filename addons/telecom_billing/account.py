from trytond.model import ModelSQL, fields
from trytond.pool import PoolMeta
from trytond.pyson import Eval


class Account(metaclass=PoolMeta):
    __name__ = 'telecom.account'
    tax_exemptions = fields.Many2Many(
        'telecom.account-account.tax', 'account', 'tax', "Tax Exemptions",
        domain=[
            ('company', '=', Eval('company', -1)),
            ('parent', '=', None),
            ],
        help="The taxes the account is not liable to: they are left off "
        "its invoice lines (F29).")
    charges = fields.One2Many(
        'telecom.account.charge', 'account', "Other Charges")
    feature_prices = fields.One2Many(
        'telecom.feature.price', 'account', "Feature Prices",
        domain=[('company', '=', Eval('company', -1))],
        help="Prices of this account's features, before its plans' prices.")

    def apply_exemptions(self, taxes):
        "The ``taxes`` of a line without those the account is exempt from"
        exempt = set(self.tax_exemptions)
        return [t for t in taxes if t not in exempt]


class AccountTaxExemption(ModelSQL):
    "Account - Tax Exemption"
    __name__ = 'telecom.account-account.tax'
    account = fields.Many2One(
        'telecom.account', "Account", required=True, ondelete='CASCADE')
    tax = fields.Many2One(
        'account.tax', "Tax", required=True, ondelete='CASCADE')
