from trytond.model import Index, fields
from trytond.pool import PoolMeta


class Charge(metaclass=PoolMeta):
    __name__ = 'telecom.cdr.charge'
    billing_run = fields.Many2One(
        'telecom.billing.run', "Billing Run", readonly=True,
        ondelete='RESTRICT',
        help="The run that invoiced this charge (or the difference between "
        "it and the version invoiced before).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        # The runs read a seller's unbilled current charges.
        cls._sql_indexes.add(
            Index(t, (t.seller, Index.Range()),
                (t.billing_run, Index.Range()),
                where=t.current == True))  # noqa: E712
