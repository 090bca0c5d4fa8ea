from trytond import backend
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

KINDS = [
    (None, ""),
    ('usage', "Usage"),
    ('adjustment', "Re-rating Adjustment"),
    ('feature', "Feature"),
    ('charge', "Charge"),
    ]


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'
    telecom_run = fields.Many2One(
        'telecom.billing.run', "Billing Run", readonly=True,
        ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))])
    telecom_account = fields.Many2One(
        'telecom.account', "Telecom Account", readonly=True,
        ondelete='RESTRICT')
    telecom_currency_rate = fields.Numeric(
        "Currency Rate", digits=(16, 6), readonly=True,
        states={
            'invisible': ~Eval('telecom_currency_rate'),
            },
        help="One unit of the tenant's currency in the invoice currency, "
        "at the invoice date: the rate the run converted prices at "
        "(empty when they are the same currency).")

    @classmethod
    def __register__(cls, module_name):
        super().__register__(module_name)
        if backend.name == 'postgresql':
            # Call control's admission counts what a postpaid account owes
            # through telecom_account_owed: now that the claims and this
            # column exist, it counts invoices too (telecom_switch,
            # api/store.py). Registered before billing, it did not.
            cursor = Transaction().connection.cursor()
            cursor.execute(
                "SELECT to_regproc('telecom_account_owed') IS NOT NULL")
            (owed,), = cursor.fetchall()
            if owed:
                from trytond.modules.telecom_switch.api.store import (
                    PostgreSQLStore)
                PostgreSQLStore.register_owed(cursor)

    @classmethod
    def copy(cls, invoices, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('telecom_run')
        default.setdefault('telecom_currency_rate')
        return super().copy(invoices, default=default)

    @classmethod
    def delete(cls, invoices):
        released = cls._telecom_usage(invoices)
        super().delete(invoices)
        Pool().get('telecom.billing.run').release(released)

    @classmethod
    def cancel(cls, invoices):
        super().cancel(invoices)
        Pool().get('telecom.billing.run').release(cls._telecom_usage(invoices))

    @classmethod
    def _telecom_usage(cls, invoices):
        "The (run, account) of the calls billed by ``invoices``"
        return {(i.telecom_run.id, i.telecom_account.id)
            for i in invoices if i.telecom_run and i.telecom_account}


class InvoiceLine(metaclass=PoolMeta):
    __name__ = 'account.invoice.line'
    telecom_kind = fields.Selection(KINDS, "Telecom Kind", readonly=True)
    telecom_destination = fields.Char("Destination", readonly=True)
    telecom_calls = fields.Integer("Calls", readonly=True)
    telecom_seconds = fields.Integer("Charged Seconds", readonly=True)
    telecom_period_start = fields.Date("Period Start", readonly=True)
    telecom_period_end = fields.Date("Period End", readonly=True)

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + [
            'telecom.account.charge', 'telecom.feature.price',
            'telecom.rate.plan']
