from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import PoolMeta
from trytond.pyson import Bool, Eval
from trytond.transaction import Transaction

from .exceptions import PortalUserError


class WebUser(metaclass=PoolMeta):
    """A portal log-in: a customer's (linked to its telecom account) or a
    reseller's (linked to the reseller company it administers)."""
    __name__ = 'web.user'
    telecom_account = fields.Many2One(
        'telecom.account', "Telecom Account", ondelete='CASCADE',
        states={
            'invisible': Bool(Eval('reseller')),
            },
        help="The customer account this log-in opens in the portal.")
    reseller = fields.Many2One(
        'company.company', "Reseller", ondelete='CASCADE',
        states={
            'invisible': Bool(Eval('telecom_account')),
            },
        help="The reseller company this log-in administers in the portal.")

    @classmethod
    def validate_fields(cls, users, field_names):
        super().validate_fields(users, field_names)
        if field_names and not (
                field_names & {'telecom_account', 'reseller'}):
            return
        for user in users:
            # One principal per log-in: the portal decides what a request
            # may touch from it alone.
            if user.telecom_account and user.reseller:
                raise PortalUserError(gettext(
                        'telecom_portal.msg_user_one_principal',
                        user=user.rec_name))

    def get_email_validation_url(self, url=None):
        # The portal that sent the e-mail answers the link: the host the
        # customer signed up on (one installation serves many brands).
        url = url or Transaction().context.get('portal_validation_url')
        return super().get_email_validation_url(url=url)

    def get_email_reset_password_url(self, url=None):
        # As the validation link: the site the reset was asked on.
        url = url or Transaction().context.get('portal_reset_url')
        return super().get_email_reset_password_url(url=url)
