"""Telecom products (F28): what a tenant sells besides calls.

A product template gets a tenant (who sells it, the wall between resellers)
and a telecom kind saying what selling it does to the account: a phone is
delivered once, a service is a one-off fee or a rental, a minute pack
credits the account's bundle balance, an extra concurrent calls package
raises the account's concurrency limits while it is subscribed.
"""
from trytond.i18n import gettext
from trytond.model import ModelSQL, fields
from trytond.modules.telecom_billing.recurring import RECURRENCES
from trytond.pool import PoolMeta
from trytond.pyson import Bool, Eval
from trytond.transaction import Transaction

from .exceptions import ProductError

TELECOM_KINDS = [
    (None, ""),
    ('phone', "Phone / Hardware"),
    ('service', "Service"),
    ('minute_pack', "Minute Pack"),
    ('concurrent_calls', "Extra Concurrent Calls"),
    ]


class Template(metaclass=PoolMeta):
    __name__ = 'product.template'
    tenant = fields.Many2One(
        'company.company', "Tenant", ondelete='RESTRICT',
        help="The company that sells the product to its customers.\n"
        "Only users of that company and of its parents see it.")
    telecom_kind = fields.Selection(
        TELECOM_KINDS, "Telecom Kind",
        help="What selling the product does to the customer's account.")
    # Empty for the products that are not telecom ones (the usage product
    # of the billing runs, what the tenant sells otherwise).
    telecom_recurrence = fields.Selection(
        [(None, "")] + RECURRENCES, "Billed",
        states={
            'invisible': ~Eval('telecom_kind'),
            'required': Bool(Eval('telecom_kind')),
            'readonly': Eval('telecom_kind') == 'phone',
            },
        help="One-off, or the period its price is for; a subscription "
        "started or stopped within a period is charged by days.")
    pack_minutes = fields.Integer(
        "Minutes",
        domain=[('pack_minutes', '>', 0)],
        states={
            'invisible': Eval('telecom_kind') != 'minute_pack',
            'required': Eval('telecom_kind') == 'minute_pack',
            },
        help="The minutes one pack credits to the account's bundle.")
    pack_groups = fields.Many2Many(
        'product.template-telecom.destination.group', 'template', 'group',
        "Destination Groups",
        states={
            'invisible': Eval('telecom_kind') != 'minute_pack',
            },
        help="The destinations the minutes are for: the account's rate "
        "plan must have a bundle on exactly these groups.")
    extra_calls = fields.Integer(
        "Concurrent Calls",
        domain=[('extra_calls', '>', 0)],
        states={
            'invisible': Eval('telecom_kind') != 'concurrent_calls',
            'required': Eval('telecom_kind') == 'concurrent_calls',
            },
        help="The calls one package adds to every concurrency limit of "
        "the account while it is subscribed.")

    @classmethod
    def default_tenant(cls):
        return Transaction().context.get('company')

    @fields.depends('telecom_kind', 'telecom_recurrence')
    def on_change_telecom_kind(self):
        if self.telecom_kind == 'phone':
            self.telecom_recurrence = 'once'
        elif self.telecom_kind and not self.telecom_recurrence:
            self.telecom_recurrence = 'once'

    @property
    def telecom_recurring(self):
        return bool(self.telecom_kind) and self.telecom_recurrence != 'once'

    @classmethod
    def validate_fields(cls, templates, field_names):
        super().validate_fields(templates, field_names)
        for template in templates:
            if (template.telecom_kind == 'phone'
                    and template.telecom_recurrence != 'once'):
                raise ProductError(gettext(
                        'telecom_sale.msg_phone_once',
                        product=template.rec_name))
            if (template.telecom_kind == 'minute_pack'
                    and not template.pack_groups):
                raise ProductError(gettext(
                        'telecom_sale.msg_pack_groups',
                        product=template.rec_name))


class TemplateDestinationGroup(ModelSQL):
    "Product Template - Destination Group"
    __name__ = 'product.template-telecom.destination.group'
    template = fields.Many2One(
        'product.template', "Template", required=True, ondelete='CASCADE')
    group = fields.Many2One(
        'telecom.destination.group', "Destination Group", required=True,
        ondelete='CASCADE')
