"""Brands: which brand a customer sees, uniqueness, and the tenant wall."""
from trytond.model.exceptions import AccessError, ValidationError
from trytond.modules.telecom_base.tests.tools import as_user, create_tenancy
from trytond.modules.telecom_billing.tests.database import BillingTestCase
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction


class BrandTestCase(BillingTestCase):
    "Test brands"

    @with_transaction()
    def test_resolve(self):
        "A plan's brand, else the tenant's, else the host's, else the default"
        pool = Pool()
        Brand = pool.get('telecom.brand')
        Plan = pool.get('telecom.rate.plan')
        Account = pool.get('telecom.account')
        t = create_tenancy()
        owner_default, = Brand.create([{
                    'name': "Owner", 'company': t.owner.id,
                    'default': True,
                    'host_names': "portal.owner.example\nowner.example"}])
        r1_default, r1_gold = Brand.create([{
                    'name': "R1", 'company': t.r1.id, 'default': True,
                    'host_names': "r1.example"}, {
                    'name': "R1 Gold", 'company': t.r1.id,
                    'host_names': "gold.r1.example"}])
        with Transaction().set_context(company=t.r1.id):
            gold_plan, = Plan.create([{
                        'name': "Gold", 'company': t.r1.id,
                        'brand': r1_gold.id}])
        self.assertEqual(r1_gold.plans, (gold_plan,))

        # The tenant's default brand until the account is on the plan.
        self.assertEqual(Brand.resolve(account=t.r1_customer), r1_default)
        Account.write([t.r1_customer], {
                'rate_plans': [('add', [gold_plan.id])]})
        self.assertEqual(
            Brand.resolve(host='owner.example', account=t.r1_customer),
            r1_gold)
        # The host decides when nobody is signed in (port and case aside).
        self.assertEqual(Brand.resolve(host='Gold.R1.example:8443'), r1_gold)
        self.assertEqual(Brand.resolve(host='owner.example'), owner_default)
        # "example" is in every brand's text but is no brand's host.
        with Transaction().set_context(company=t.r1.id):
            self.assertEqual(Brand.resolve(host='example'), r1_default)
        with Transaction().set_context(company=t.r3.id):
            self.assertIsNone(Brand.resolve(host='unknown.example'))
        # An account of a tenant without brand falls to the host.
        self.assertEqual(
            Brand.resolve(host='r1.example', account=t.r3_customer),
            r1_default)

    @with_transaction()
    def test_unique(self):
        "A host shows one brand; a tenant has one default brand"
        pool = Pool()
        Brand = pool.get('telecom.brand')
        t = create_tenancy()
        Brand.create([{
                    'name': "Owner", 'company': t.owner.id, 'default': True,
                    'host_names': "owner.example"}])
        with self.assertRaisesRegex(ValidationError, 'owner.example') as cm:
            Brand.create([{
                        'name': "Copy", 'company': t.r1.id,
                        'host_names': "other.example\nOwner.example "}])
        # The owner's brand is not named to the reseller.
        self.assertNotIn('"Owner"', str(cm.exception))
        self.assertIn("taken by another brand", str(cm.exception))
        with self.assertRaisesRegex(ValidationError, 'default brand'):
            Brand.create([{
                        'name': "Second", 'company': t.owner.id,
                        'default': True}])
        with self.assertRaisesRegex(ValidationError, '#rrggbb'):
            Brand.create([{
                        'name': "Pink", 'company': t.owner.id,
                        'primary_colour': 'pink'}])

    @with_transaction()
    def test_tenant_wall(self):
        "A reseller reads and edits its own brands and reads its layouts"
        pool = Pool()
        Brand = pool.get('telecom.brand')
        Template = pool.get('telecom.invoice.template')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        t = create_tenancy()
        owner, r1, r2 = Brand.create([
                {'name': "Owner", 'company': t.owner.id},
                {'name': "R1", 'company': t.r1.id},
                {'name': "R2", 'company': t.r2.id}])
        r3_template, r2_template = Template.create([
                {'name': "R3 layout", 'company': t.r3.id},
                {'name': "R2 layout", 'company': t.r2.id}])
        billing = ModelData.get_id('telecom_billing', 'group_telecom_billing')
        User.write([t.r2_user], {'groups': [('add', [billing])]})
        with as_user(t.r2_user):
            self.assertEqual(Brand.search([]), [r2])
            self.assertEqual(
                sorted(x.name for x in Template.search([])),
                ["R2 layout", "Standard"])
            # Layouts run Python: tenants choose them, never write them.
            with self.assertRaises(AccessError):
                Template.write([Template(r2_template.id)], {'content': "x"})
            with self.assertRaises(AccessError):
                Template.create([{'name': "Mine", 'company': t.r2.id}])
            Brand.write([r2], {'invoice_template': r2_template.id})
        self.assertEqual(r2.get_invoice_template(), r2_template)
        self.assertEqual(owner.get_invoice_template(), Template.standard())
        self.assertNotIn(r3_template, [owner.get_invoice_template()])
