from decimal import Decimal

from trytond.model import fields
from trytond.pool import PoolMeta
from trytond.pyson import Eval, If

from .switch import SnapshotChangeMixin


class Account(SnapshotChangeMixin, metaclass=PoolMeta):
    __name__ = 'telecom.account'
    max_outbound = fields.Integer(
        "Max Outbound Calls",
        domain=[If(Eval('max_outbound'), ('max_outbound', '>=', 0), ())],
        help="Concurrent outbound calls. Leave empty for no limit.")
    max_inbound = fields.Integer(
        "Max Inbound Calls",
        domain=[If(Eval('max_inbound'), ('max_inbound', '>=', 0), ())],
        help="Concurrent inbound calls. Leave empty for no limit.")
    max_total = fields.Integer(
        "Max Calls",
        domain=[If(Eval('max_total'), ('max_total', '>=', 0), ())],
        help="Concurrent calls in both directions. Leave empty for no "
        "limit.")
    extra_calls = fields.Integer(
        "Extra Calls", domain=[('extra_calls', '>=', 0)],
        help="Concurrent calls bought in packages, added to every limit.")
    over_limit = fields.Selection([
            ('refuse', "Refuse"),
            ('charge', "Admit at extra cost"),
            ], "At the Limit", required=True,
        help="What happens to a call above the limits (never to an "
        "emergency call).")
    over_limit_price = fields.Numeric(
        "Over-limit Price", digits=(16, 6),
        states={
            'invisible': Eval('over_limit') != 'charge',
            'required': Eval('over_limit') == 'charge',
            })
    over_limit_unit = fields.Selection([
            ('call', "Per call"),
            ('minute', "Per minute"),
            ], "Over-limit Unit",
        states={
            'invisible': Eval('over_limit') != 'charge',
            'required': Eval('over_limit') == 'charge',
            })

    @classmethod
    def default_over_limit(cls):
        return 'refuse'

    @classmethod
    def default_extra_calls(cls):
        return 0

    @classmethod
    def default_over_limit_unit(cls):
        return 'call'

    @classmethod
    def default_over_limit_price(cls):
        return Decimal(0)


class Credential(SnapshotChangeMixin, metaclass=PoolMeta):
    __name__ = 'telecom.credential'


class Number(SnapshotChangeMixin, metaclass=PoolMeta):
    __name__ = 'telecom.number'


class SipAddress(SnapshotChangeMixin, metaclass=PoolMeta):
    __name__ = 'telecom.sip_address'
