"""Affiliates (F33): a percentage of one account's revenue credited to
another account of the same tenant.

Built on Tryton's ``commission`` module rather than beside it: each
affiliation owns a commission plan (one line, ``amount * percentage /
100``) and a commission agent whose party is the affiliate's party. A
customer invoice of the referred account gets that agent when it is
posted, so Tryton creates one commission per invoice line on its untaxed
amount (at posting or at payment, as the affiliation says). The affiliate
then receives the commissions:

- postpaid: as credit lines on its next invoice — one line per referred
  invoice — added by the billing run, the commissions linked to the line
  (``commission.invoice_line``), so they are credited once;
- prepaid: as a balance movement (kind *Affiliate*, origin the
  commission) as soon as a commission is due, once per commission.
"""
from collections import defaultdict
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.telecom_rating.cdr import forget_cached
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import Transaction, without_check_access

from .exceptions import AffiliationError


class Affiliation(ModelSQL, ModelView):
    """Affiliation

    The share of a referred account's revenue credited to its affiliate."""
    __name__ = 'telecom.affiliation'
    company = fields.Many2One(
        'company.company', "Tenant", required=True, ondelete='RESTRICT',
        states={
            'readonly': Eval('id', -1) >= 0,
            })
    affiliate = fields.Many2One(
        'telecom.account', "Affiliate", required=True, ondelete='RESTRICT',
        states={
            'readonly': Eval('id', -1) >= 0,
            },
        help="The account credited, a customer of the tenant.")
    referred = fields.Many2One(
        'telecom.account', "Referred Account", required=True,
        ondelete='RESTRICT',
        states={
            'readonly': Eval('id', -1) >= 0,
            },
        help="The customer or reseller whose revenue is shared.")
    percentage = fields.Numeric(
        "Percentage", digits=(5, 2), required=True,
        help="The share of the referred account's invoiced revenue, "
        "before taxes, from 0 to 100.")
    basis = fields.Selection([
            ('posting', "Invoice Posted"),
            ('payment', "Invoice Paid"),
            ], "Credited When", required=True,
        help="When a referred invoice earns the affiliate its share.")
    start_date = fields.Date("Start Date", required=True,
        help="The first invoice date that earns a share.")
    end_date = fields.Date(
        "End Date",
        domain=[If(Eval('end_date') & Eval('start_date'),
                ('end_date', '>=', Eval('start_date')), ())],
        help="The last invoice date that earns a share. Leave empty while "
        "it runs.")
    product = fields.Many2One(
        'product.product', "Product", required=True, ondelete='RESTRICT',
        domain=[('type', '=', 'service')],
        help="The product of the affiliate's credit lines (its account).")
    agent = fields.Many2One(
        'commission.agent', "Commission Agent", readonly=True,
        ondelete='RESTRICT')
    plan = fields.Many2One(
        'commission.plan', "Commission Plan", readonly=True,
        ondelete='RESTRICT')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('start_date', 'DESC'))

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_basis(cls):
        return 'posting'

    @classmethod
    def default_start_date(cls):
        return Pool().get('ir.date').today()

    def get_rec_name(self, name):
        return (f'{self.affiliate.rec_name}: {self.percentage}% '
            f'{self.referred.rec_name}')

    @classmethod
    def validate_fields(cls, affiliations, field_names):
        super().validate_fields(affiliations, field_names)
        for affiliation in affiliations:
            affiliation.check_values()
        cls.check_overlap(affiliations)

    def check_values(self):
        names = {
            'affiliate': self.affiliate.rec_name,
            'referred': self.referred.rec_name,
            }
        if not (Decimal(0) < self.percentage <= Decimal(100)):
            raise AffiliationError(gettext(
                    'telecom_affiliate.msg_percentage',
                    percentage=self.percentage, **names))
        if self.affiliate == self.referred:
            raise AffiliationError(gettext(
                    'telecom_affiliate.msg_self', **names))
        for account in [self.affiliate, self.referred]:
            if account.company != self.company:
                raise AffiliationError(gettext(
                        'telecom_affiliate.msg_company',
                        account=account.rec_name,
                        company=self.company.rec_name, **names))

    @classmethod
    def check_overlap(cls, affiliations):
        # An invoice has one commission agent: one share at a time.
        for affiliation in affiliations:
            domain = [
                ('id', '!=', affiliation.id),
                ('referred', '=', affiliation.referred.id),
                ['OR', ('end_date', '=', None),
                    ('end_date', '>=', affiliation.start_date)],
                ]
            if affiliation.end_date:
                domain.append(('start_date', '<=', affiliation.end_date))
            others = cls.search(domain, limit=1)
            if others:
                other, = others
                raise AffiliationError(gettext(
                        'telecom_affiliate.msg_overlap',
                        referred=affiliation.referred.rec_name,
                        other=other.affiliate.rec_name))

    def _plan_values(self):
        return {
            'name': self.rec_name,
            'commission_product': self.product.id,
            'commission_method': self.basis,
            }

    def _formula(self):
        # decistmt turns the literal into a Decimal: no float on the way.
        return f'amount * {self.percentage} / 100'

    @classmethod
    def create(cls, vlist):
        pool = Pool()
        Plan = pool.get('commission.plan')
        Agent = pool.get('commission.agent')
        affiliations = super().create(vlist)
        if not affiliations:
            return affiliations
        with without_check_access():
            plans = Plan.create([{
                        **a._plan_values(),
                        'lines': [('create', [{'formula': a._formula()}])],
                        } for a in affiliations])
            agents = Agent.create([{
                        'party': a.affiliate.party.id,
                        'company': a.company.id,
                        'type_': 'agent',
                        'plan': p.id,
                        'currency': a.affiliate.currency.id,
                        } for a, p in zip(affiliations, plans)])
            cls.write(*sum(([[a], {'plan': p.id, 'agent': g.id}]
                        for a, p, g in zip(affiliations, plans, agents)),
                    []))
        return affiliations

    @classmethod
    def write(cls, *args):
        pool = Pool()
        Plan = pool.get('commission.plan')
        PlanLine = pool.get('commission.plan.line')
        super().write(*args)
        affiliations = cls.browse(sum(args[::2], []))
        with without_check_access():
            for affiliation in affiliations:
                if not affiliation.plan:
                    continue
                Plan.write([affiliation.plan], affiliation._plan_values())
                PlanLine.write(list(affiliation.plan.lines),
                    {'formula': affiliation._formula()})

    @classmethod
    def of_invoice(cls, invoice):
        "The affiliation earning a share of customer ``invoice``, if any"
        pool = Pool()
        Account = pool.get('telecom.account')
        Date = pool.get('ir.date')
        if invoice.type != 'out':
            return None
        account = getattr(invoice, 'telecom_account', None)
        if not account:
            accounts = Account.search([
                    ('party', '=', invoice.party.id),
                    ('company', '=', invoice.company.id),
                    ])
            if len(accounts) != 1:
                return None
            account, = accounts
        with Transaction().set_context(company=invoice.company.id):
            date = invoice.invoice_date or Date.today()
        affiliations = cls.search([
                ('referred', '=', account.id),
                ('company', '=', invoice.company.id),
                ('start_date', '<=', date),
                ['OR', ('end_date', '=', None), ('end_date', '>=', date)],
                ], limit=1)
        return affiliations[0] if affiliations else None

    @classmethod
    def credit_prepaid(cls, invoices):
        """Credit to prepaid affiliates' balances the commissions of
        ``invoices`` that are due, each once."""
        pool = Pool()
        Commission = pool.get('commission')
        BalanceLine = pool.get('telecom.balance.line')
        with without_check_access():
            commissions = Commission.search([
                    ('origin.invoice', 'in', [i.id for i in invoices],
                        'account.invoice.line'),
                    ('date', '!=', None),
                    ('invoice_line', '=', None),
                    ])
            by_agent = {a.agent: a for a in cls.search([
                        ('agent', 'in', list({c.agent.id
                                    for c in commissions})),
                        ('affiliate.billing_mode', '=', 'prepaid'),
                        ])}
            commissions = [c for c in commissions if c.agent in by_agent]
            credited = {str(l.origin) for l in BalanceLine.search([
                        ('origin', 'in', [str(c) for c in commissions]),
                        ])}
            movements = []
            for commission in commissions:
                if str(commission) in credited:
                    continue
                affiliate = by_agent[commission.agent].affiliate
                movements.append({
                        'account': affiliate.id,
                        'amount': affiliate.currency.round(commission.amount),
                        'kind': 'affiliate',
                        'origin': str(commission),
                        'description': gettext(
                            'telecom_affiliate.msg_balance_description',
                            invoice=commission.origin.invoice.rec_name),
                        })
            BalanceLine.add_movements(movements)
            if movements:
                forget_cached(pool.get('telecom.account'))

    @classmethod
    def due_commissions(cls, affiliates, end_date):
        """The commissions due to ``affiliates`` up to ``end_date`` and not
        yet credited: {(affiliation, referred invoice): [commission]}"""
        pool = Pool()
        Commission = pool.get('commission')
        affiliations = {a.agent: a for a in cls.search([
                    ('affiliate', 'in', [a.id for a in affiliates]),
                    ])}
        result = defaultdict(list)
        if not affiliations:
            return result
        for commission in Commission.search([
                    ('agent', 'in', [a.id for a in affiliations]),
                    ('invoice_line', '=', None),
                    ('date', '!=', None),
                    ('date', '<=', end_date),
                    ], order=[('date', 'ASC'), ('id', 'ASC')]):
            key = (affiliations[commission.agent],
                commission.origin.invoice)
            result[key].append(commission)
        return result
