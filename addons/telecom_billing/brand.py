"""Brands (F34) and invoice templates (F30).

A brand is how one tenant shows itself to a set of customers: name, logo,
colours, contacts, the sender of its e-mails, the layout of its invoices and
the host names its portal answers on. Many brands live in one installation:
each rate plan may name the brand of its customers."""
import re
from pathlib import Path

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import escape_wildcard
from trytond.transaction import Transaction, without_check_access

COLOUR = re.compile(r'^#[0-9a-fA-F]{6}$')
STANDARD_TEMPLATE = Path(__file__).parent / 'templates' / 'invoice.html'


def default_company():
    return Transaction().context.get('company')


def host_names(text):
    "The host names of a brand's text, one a line, lower case, no port"
    names = []
    for line in (text or '').splitlines():
        name = line.strip().lower()
        if name:
            names.append(name)
    return names


def bare_host(host):
    "The host name of an HTTP Host header: lower case, without port"
    host = (host or '').strip().lower()
    if host.startswith('['):
        return host.split(']')[0] + ']'
    return host.split(':')[0]


class InvoiceTemplate(ModelSQL, ModelView):
    """Invoice Template

    The HTML layout of the PDF invoices of a set of customers (a Genshi
    template rendered by trytond's report engine and turned into PDF by
    WeasyPrint). Without a tenant it is shared by every tenant; without a
    content it is the standard layout shipped with the module."""
    __name__ = 'telecom.invoice.template'
    name = fields.Char("Name", required=True, translate=True)
    company = fields.Many2One(
        'company.company', "Tenant", ondelete='CASCADE',
        help="The tenant that owns the template; empty for one shared "
        "by all tenants.")
    content = fields.Text(
        "HTML",
        help="A Genshi HTML template; the invoice is \"record\", its "
        "brand \"brand\", its usage summary \"usage\" and its call annex "
        "\"annex\". Empty for the standard layout.")

    def get_content(self):
        "The HTML of the layout"
        return self.content or STANDARD_TEMPLATE.read_text()

    @classmethod
    def standard(cls):
        "The shipped layout: used when a brand names none"
        ModelData = Pool().get('ir.model.data')
        return cls(ModelData.get_id(
                'telecom_billing', 'invoice_template_standard'))


class Brand(ModelSQL, ModelView):
    """Brand

    What the customers of a tenant see (F34): on the portal and on their
    invoices and e-mails."""
    __name__ = 'telecom.brand'
    name = fields.Char("Name", required=True)
    company = fields.Many2One(
        'company.company', "Tenant", required=True, ondelete='CASCADE',
        states={
            'readonly': Eval('id', -1) >= 0,
            })
    default = fields.Boolean(
        "Default",
        help="The tenant's brand for the customers whose plans name none "
        "(one per tenant).")
    logo = fields.Binary(
        "Logo", file_id='logo_id',
        help="An SVG, PNG or JPEG image shown on invoices and the portal.")
    logo_id = fields.Char("Logo ID", readonly=True)
    logo_type = fields.Selection([
            (None, ""),
            ('image/svg+xml', "SVG"),
            ('image/png', "PNG"),
            ('image/jpeg', "JPEG"),
            ], "Logo Type",
        states={
            'required': Eval('logo', False),
            })
    primary_colour = fields.Char(
        "Primary Colour", required=True,
        help="The colour of headings and bars, as #rrggbb.")
    secondary_colour = fields.Char(
        "Secondary Colour", required=True,
        help="The colour of highlights, as #rrggbb.")
    support_email = fields.Char("Support E-mail")
    support_phone = fields.Char("Support Phone")
    website = fields.Char("Website")
    email_from = fields.Char(
        "E-mail Sender",
        help="The From address of the e-mails sent to the brand's "
        "customers (invoices, reminders); empty for the server's.")
    invoice_template = fields.Many2One(
        'telecom.invoice.template', "Invoice Template",
        ondelete='RESTRICT',
        domain=['OR',
            ('company', '=', None),
            ('company', '=', Eval('company', -1)),
            ],
        help="The layout of the PDF invoices; empty for the standard one.")
    host_names = fields.Text(
        "Host Names",
        help="The host names the portal shows this brand on, one a line "
        "(unique across brands).")
    plans = fields.One2Many(
        'telecom.rate.plan', 'brand', "Rate Plans",
        domain=[('company', '=', Eval('company', -1))],
        help="The plans whose customers see this brand.")

    default_company = staticmethod(default_company)

    @classmethod
    def default_default(cls):
        return False

    @classmethod
    def default_primary_colour(cls):
        return '#1f3a5f'

    @classmethod
    def default_secondary_colour(cls):
        return '#e8eef5'

    @classmethod
    def validate_fields(cls, brands, field_names):
        super().validate_fields(brands, field_names)
        for brand in brands:
            for name in ['primary_colour', 'secondary_colour']:
                colour = getattr(brand, name)
                if colour and not COLOUR.match(colour):
                    raise ValidationError(gettext(
                            'telecom_billing.msg_brand_colour',
                            brand=brand.name, colour=colour,
                            field=cls.__names__(name)['field']))
        if not field_names or {'host_names', 'default', 'company'} & set(
                field_names):
            cls._check_unique(brands)

    @staticmethod
    def _sees(brand, other):
        """Whether ``brand``'s tenant may read brand ``other``: a brand
        above or beside it is not named to it (tenants are walls)"""
        Company = Pool().get('company.company')
        return other.company.id in Company.subtree([brand.company.id])

    @classmethod
    def _check_unique(cls, brands):
        "A host shows one brand; a tenant has one default brand"
        with without_check_access():
            others = cls.search([])
        owner = {}
        for brand in others:
            for name in host_names(brand.host_names):
                owner.setdefault(name, []).append(brand)
        for brand in brands:
            for name in host_names(brand.host_names):
                clash = [b for b in owner.get(name, []) if b != brand]
                if clash and cls._sees(brand, clash[0]):
                    raise ValidationError(gettext(
                            'telecom_billing.msg_brand_host_unique',
                            host=name, brand=brand.name,
                            other=clash[0].name))
                elif clash:
                    raise ValidationError(gettext(
                            'telecom_billing.msg_brand_host_taken',
                            host=name, brand=brand.name))
            if brand.default:
                clash = [b for b in others
                    if b.default and b.company == brand.company
                    and b != brand]
                if clash:
                    raise ValidationError(gettext(
                            'telecom_billing.msg_brand_default_unique',
                            brand=brand.name, other=clash[0].name,
                            company=brand.company.rec_name))

    @classmethod
    def resolve(cls, host=None, account=None):
        """The brand to show, first found of:

        1. the brand of a rate plan of ``account`` (the signed-in account);
        2. the default brand of the account's tenant;
        3. the brand whose host names hold ``host`` (an HTTP Host value);
        4. the default brand of the tenant in the context (``company``).

        It reads as root: the portal resolves a brand before anyone signs
        in. None when nothing matches."""
        with without_check_access():
            if account is not None:
                plans = sorted(
                    (p for p in account.rate_plans if p.brand),
                    key=lambda p: p.id)
                if plans:
                    return plans[0].brand
                brand = cls._default_of(account.company)
                if brand:
                    return brand
            if host:
                host = bare_host(host)
                # A LIKE narrows the candidates; the exact line decides.
                like = f'%{escape_wildcard(host)}%'
                for brand in cls.search([('host_names', 'ilike', like)],
                        order=[('id', 'ASC')]):
                    if host in host_names(brand.host_names):
                        return brand
            company = Transaction().context.get('company')
            if company is not None and company >= 0:
                return cls._default_of(company)

    @classmethod
    def _default_of(cls, company):
        brands = cls.search([
                ('company', '=', int(company)),
                ('default', '=', True),
                ], limit=1)
        if brands:
            return brands[0]

    def get_invoice_template(self):
        "The layout of this brand's invoices"
        return self.invoice_template or Pool().get(
            'telecom.invoice.template').standard()


class RatePlan(metaclass=PoolMeta):
    __name__ = 'telecom.rate.plan'
    brand = fields.Many2One(
        'telecom.brand', "Brand", ondelete='SET NULL',
        domain=[('company', '=', Eval('company', -1))],
        help="What the plan's customers see (portal, invoices, e-mails); "
        "empty for the tenant's default brand.")
    itemised_annex = fields.Boolean(
        "Itemised Call Annex",
        help="Invoices of the plan's customers list every call.")

    @classmethod
    def default_itemised_annex(cls):
        return False
