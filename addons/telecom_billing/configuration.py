"""Billing configuration: per tenant (company), the products that carry the
usage and feature-extra lines of its invoices. A product brings the revenue
account and the customer taxes of its lines, as everywhere in Tryton."""
from trytond.model import ModelSingleton, ModelSQL, ModelView, fields
from trytond.modules.company.model import (
    CompanyMultiValueMixin, CompanyValueMixin)
from trytond.pool import Pool
from trytond.pyson import Eval

_PRODUCT_DOMAIN = [
    ('type', '=', 'service'),
    ]


class Configuration(
        ModelSingleton, ModelSQL, ModelView, CompanyMultiValueMixin):
    "Telecom Billing Configuration"
    __name__ = 'telecom.billing.configuration'
    usage_product = fields.MultiValue(fields.Many2One(
            'product.product', "Usage Product", domain=_PRODUCT_DOMAIN,
            help="The product of the lines that invoice rated calls and "
            "their re-rating adjustments."))
    feature_product = fields.MultiValue(fields.Many2One(
            'product.product', "Feature Product", domain=_PRODUCT_DOMAIN,
            help="The product of the lines that invoice features above "
            "their included count, when the feature price names none."))

    @classmethod
    def multivalue_model(cls, field):
        pool = Pool()
        if field in {'usage_product', 'feature_product'}:
            return pool.get('telecom.billing.configuration.product')
        return super().multivalue_model(field)


class ConfigurationProduct(ModelSQL, CompanyValueMixin):
    "Telecom Billing Configuration Product"
    __name__ = 'telecom.billing.configuration.product'
    usage_product = fields.Many2One(
        'product.product', "Usage Product", ondelete='RESTRICT',
        domain=_PRODUCT_DOMAIN,
        context={
            'company': Eval('company', -1),
            },
        depends=['company'])
    feature_product = fields.Many2One(
        'product.product', "Feature Product", ondelete='RESTRICT',
        domain=_PRODUCT_DOMAIN,
        context={
            'company': Eval('company', -1),
            },
        depends=['company'])
