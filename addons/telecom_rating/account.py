from collections import namedtuple

from sql import Literal, Null

from trytond.i18n import gettext
from trytond.model import ModelSQL, fields
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

from .cdr import id_chunks, in_ids

# One level of a rating chain, as ids: who sells (the plan's tenant) which
# plan in which currency to which account (and, when that account is a
# reseller's, to which company), and how that account pays.
ChainLevel = namedtuple('ChainLevel', [
        'plan', 'seller', 'currency', 'account', 'buyer', 'prepaid',
        'account_currency'])


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
        Plan = pool.get('telecom.rate.plan')
        Account = pool.get('telecom.account')
        key = (self.id, direction, service)
        chain = self.rating_chains([key])[key]
        if isinstance(chain, str):
            return chain
        return [(Plan(level.plan), Account(level.account))
            for level in chain]

    @classmethod
    def rating_chains(cls, keys):
        """Return {(account id, direction, service): chain} for ``keys``:
        a chain is a tuple of ChainLevel from the owner down (the same
        tuple for the same key), or the reason string why there is none.

        Read with four queries whatever the number of keys — bulk rating
        resolves every chain of a batch at once (rating_chain is this for
        one account). The account billed for a reseller is the reseller's
        account in its parent's tenant (the lowest id if there are several).
        """
        pool = Pool()
        AccountPlan = pool.get('telecom.account-telecom.rate.plan')
        Plan = pool.get('telecom.rate.plan')
        Company = pool.get('company.company')
        account = cls.__table__()
        rel = AccountPlan.__table__()
        plan = Plan.__table__()
        company = Company.__table__()
        cursor = Transaction().connection.cursor()

        cursor.execute(*company.select(company.id, company.parent))
        parent_of = dict(cursor)
        account_columns = [account.id, account.company, account.reseller,
            account.billing_mode, account.currency]
        wanted = {k[0] for k in keys}
        accounts, billed_for = {}, {}
        # The accounts asked for and every reseller's account: few.
        cursor.execute(*account.select(*account_columns,
                where=account.reseller != Null))
        rows = list(cursor)
        for sub_ids in id_chunks(list(wanted)):
            cursor.execute(*account.select(*account_columns,
                    where=in_ids(account.id, sub_ids)))
            rows.extend(cursor)
        for id_, tenant, reseller, mode, currency in rows:
            accounts[id_] = (tenant, reseller, mode == 'prepaid', currency)
            if reseller is not None and parent_of.get(reseller) == tenant:
                billed_for[reseller] = min(
                    billed_for.get(reseller, id_), id_)
        plans = {}
        cursor.execute(*rel.join(plan, condition=rel.plan == plan.id).select(
                rel.account, plan.id, plan.direction, plan.service,
                plan.company, plan.currency,
                where=plan.active == Literal(True)))
        for account_id, *values in cursor:
            if account_id in accounts:
                plans[(account_id, values[1], values[2])] = values

        chains, built = {}, {}
        for key in keys:
            account_id, direction, service = key
            levels = []
            while True:
                found = plans.get((account_id, direction, service))
                if not found:
                    levels = cls._no_chain(
                        'no_plan', account_id, direction, service)
                    break
                plan_id, _, _, seller, currency = found
                tenant, reseller, prepaid, account_currency = (
                    accounts[account_id])
                levels.append(ChainLevel(plan_id, seller, currency,
                        account_id, reseller, prepaid, account_currency))
                if parent_of.get(tenant) is None:
                    levels = tuple(reversed(levels))
                    break
                if tenant not in billed_for:
                    levels = cls._no_chain(
                        'no_reseller_account', tenant, direction, service)
                    break
                account_id = billed_for[tenant]
            # Equal chains are one tuple: the engine memoises per chain.
            chains[key] = built.setdefault(levels, levels)
        return chains

    @classmethod
    def _no_chain(cls, why, record_id, direction, service):
        "The reason why there is no rating chain (rare: read by the ORM)"
        pool = Pool()
        with without_check_access():
            if why == 'no_plan':
                return gettext('telecom_rating.msg_no_plan',
                    account=cls(record_id).code, direction=direction,
                    service=service)
            Company = pool.get('company.company')
            return gettext('telecom_rating.msg_no_reseller_account',
                tenant=Company(record_id).rec_name)


class AccountRatePlan(ModelSQL):
    "Account - Rate Plan"
    __name__ = 'telecom.account-telecom.rate.plan'
    account = fields.Many2One(
        'telecom.account', "Account", required=True, ondelete='CASCADE')
    plan = fields.Many2One(
        'telecom.rate.plan', "Plan", required=True, ondelete='RESTRICT')
