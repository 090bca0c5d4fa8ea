from trytond.model import fields
from trytond.pool import PoolMeta
from trytond.transaction import Transaction


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'
    tenant = fields.Many2One(
        'company.company', "Tenant", ondelete='RESTRICT',
        help="The company whose customer or contact this party is.\n"
        "Only users of that company and of its parents see the party.")

    @classmethod
    def default_tenant(cls):
        return Transaction().context.get('company')
