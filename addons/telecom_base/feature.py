"""The feature catalogue and per-account feature limits (F15).

A feature is something an account has a count of (lines, numbers, SIP
addresses, trunk credentials, or anything counted by hand). A limit says
how many the account may have at most and how many are included free; the
billing module prices the extra ones.
"""
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval, If

from .exceptions import FeatureLimitError

COUNTS = [
    (None, "Counted by hand"),
    ('telecom.line', "Lines"),
    ('telecom.number', "Numbers"),
    ('telecom.sip_address', "SIP Addresses"),
    ('telecom.credential', "Trunk Credentials"),
    ]


class Feature(ModelSQL, ModelView):
    "A countable feature of the owner's catalogue."
    __name__ = 'telecom.feature'
    code = fields.Char("Code", required=True, strip=True)
    name = fields.Char("Name", required=True, translate=True)
    counts = fields.Selection(
        COUNTS, "Counts",
        help="The services whose number is the feature's usage.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'telecom_base.msg_feature_code_unique'),
            ]


class FeatureLimit(ModelSQL, ModelView):
    "How many of a feature an account may have and has free."
    __name__ = 'telecom.account.feature_limit'
    account = fields.Many2One(
        'telecom.account', "Account", required=True, ondelete='CASCADE')
    feature = fields.Many2One(
        'telecom.feature', "Feature", required=True, ondelete='RESTRICT')
    maximum = fields.Integer(
        "Maximum",
        domain=[If(Eval('maximum', None) != None,  # noqa: E711
                ('maximum', '>=', 0), ())],
        help="The most the account may have. Leave empty for no maximum.")
    included = fields.Integer(
        "Included", required=True,
        domain=[('included', '>=', 0)],
        help="How many are free; the billing prices each one above.")
    manual_used = fields.Integer(
        "Used (manual)",
        states={
            'invisible': Eval('counts', None) != None,  # noqa: E711
            },
        help="The usage of a feature that is counted by hand.")
    counts = fields.Function(
        fields.Selection(COUNTS, "Counts"), 'on_change_with_counts')
    used = fields.Function(fields.Integer("Used"), 'get_used_field')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('account_feature_unique', Unique(t, t.account, t.feature),
                'telecom_base.msg_feature_limit_unique'),
            ]
        cls.__access__.add('account')

    @classmethod
    def default_included(cls):
        return 0

    @fields.depends('feature', '_parent_feature.counts')
    def on_change_with_counts(self, name=None):
        return self.feature.counts if self.feature else None

    def get_used(self):
        pool = Pool()
        if not self.feature.counts:
            return self.manual_used or 0
        Service = pool.get(self.feature.counts)
        return Service.search([('account', '=', self.account.id)], count=True)

    def get_used_field(self, name):
        return self.get_used()

    @property
    def extra(self):
        "How many are charged: those above the included count"
        return max(self.get_used() - (self.included or 0), 0)

    @classmethod
    def validate_fields(cls, limits, field_names):
        super().validate_fields(limits, field_names)
        for limit in limits:
            if limit.maximum is None:
                continue
            used = limit.get_used()
            if used > limit.maximum:
                raise FeatureLimitError(gettext(
                        'telecom_base.msg_feature_limit_exceeded',
                        account=limit.account.rec_name,
                        feature=limit.feature.name,
                        maximum=limit.maximum, used=used))
