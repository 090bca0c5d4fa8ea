from trytond.i18n import gettext
from trytond.model import ModelSQL, fields
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import without_check_access


class Account(metaclass=PoolMeta):
    __name__ = 'telecom.account'
    rate_plans = fields.Many2Many(
        'telecom.account-telecom.rate.plan', 'account', 'plan',
        "Rate Plans",
        domain=[('company', '=', Eval('company', -1))],
        help="The tenant's plans the account is charged with: at most one "
        "per service and direction.")

    @classmethod
    def validate_fields(cls, accounts, field_names):
        super().validate_fields(accounts, field_names)
        if field_names and 'rate_plans' not in field_names:
            return
        for account in accounts:
            kinds = [(p.service, p.direction) for p in account.rate_plans]
            if len(kinds) != len(set(kinds)):
                raise ValidationError(gettext(
                        'telecom_rating.msg_account_plan_kind',
                        account=account.rec_name))

    def plan_for(self, direction, service):
        for plan in self.rate_plans:
            if (plan.direction, plan.service) == (direction, service):
                return plan

    def rating_chain(self, direction, service):
        """Return the levels that price a call of this account, from the
        owner down: a list of (plan, buyer account), or a reason string.

        A customer of a reseller pays the reseller's plan; the reseller pays
        the plan of its own account in its parent's tenant; and so on up to
        the owner.
        """
        pool = Pool()
        Account = pool.get('telecom.account')
        levels = []
        account = self
        with without_check_access():
            while True:
                plan = account.plan_for(direction, service)
                if not plan:
                    return gettext(
                        'telecom_rating.msg_no_plan', account=account.code,
                        direction=direction, service=service)
                levels.insert(0, (plan, account))
                tenant = account.company
                if not tenant.parent:
                    return levels
                sellers = Account.search([
                        ('reseller', '=', tenant.id),
                        ('company', '=', tenant.parent.id),
                        ], limit=1)
                if not sellers:
                    return gettext(
                        'telecom_rating.msg_no_reseller_account',
                        tenant=tenant.rec_name)
                account, = sellers


class AccountRatePlan(ModelSQL):
    "Account - Rate Plan"
    __name__ = 'telecom.account-telecom.rate.plan'
    account = fields.Many2One(
        'telecom.account', "Account", required=True, ondelete='CASCADE')
    plan = fields.Many2One(
        'telecom.rate.plan', "Plan", required=True, ondelete='RESTRICT')
