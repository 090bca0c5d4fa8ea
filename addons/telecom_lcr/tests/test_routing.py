"""Routing through the database: carriers, decks and policies stored in
Tryton, compiled by load_routing, decided by the engine."""
import datetime as dt
from decimal import Decimal

from trytond.model.exceptions import AccessError
from trytond.modules.telecom_base.tests.tools import as_user, create_tenancy
from trytond.modules.telecom_lcr.engine import route_call
from trytond.modules.telecom_lcr.exceptions import RoutingPolicyError
from trytond.modules.telecom_lcr.routing import load_routing
from trytond.modules.telecom_lcr.tests.database import LcrTestCase
from trytond.modules.telecom_lcr.tests.tools import create_carriers
from trytond.modules.telecom_rating.tests.tools import UTC, create_rating
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction

MONDAY = dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class RoutingTestCase(LcrTestCase):
    "Test routing from the database"

    @with_transaction()
    def test_least_cost_inherited_by_reseller_plan(self):
        "A reseller's customer is routed by its parent's policy"
        t = create_carriers(create_rating(create_tenancy()))
        index = load_routing()

        fixed = route_call(
            index, t.r1_plan.id, 'voice', '442071230000', '442071234567',
            MONDAY)
        self.assertEqual(
            [r.carrier for r in fixed.routes], [t.alpha.id, t.beta.id])
        self.assertTrue(fixed.inherited)
        # Alpha: tech prefix 101 before the number; Beta: strip 44, add 0.
        self.assertEqual(
            [r.number for r in fixed.routes],
            ['101442071234567', '02071234567'])
        self.assertEqual(
            [r.cost_per_minute for r in fixed.routes],
            [Decimal('0.01'), Decimal('0.015')])

        mobile = route_call(
            index, t.r1_plan.id, 'voice', '442071230000', '447700900123',
            MONDAY)
        self.assertEqual(
            [r.carrier for r in mobile.routes], [t.beta.id, t.alpha.id])

    @with_transaction()
    def test_new_price_recompiles(self):
        "A carrier's new price is used by the next decision"
        pool = Pool()
        CarrierRate = pool.get('telecom.carrier.rate')
        t = create_carriers(create_rating(create_tenancy()))
        load_routing()
        rate, = CarrierRate.search([
                ('carrier', '=', t.alpha.id), ('prefix', '=', '44')])
        CarrierRate.write([rate], {'price': Decimal('0.0200')})
        decision = route_call(
            load_routing(), t.owner_plan.id, 'voice', '', '442071234567',
            MONDAY)
        self.assertEqual(
            [r.carrier for r in decision.routes], [t.beta.id, t.alpha.id])

    @with_transaction()
    def test_disabled_and_restricted(self):
        "Disabled carriers and carriers kept for others are skipped"
        pool = Pool()
        Carrier = pool.get('telecom.carrier')
        t = create_carriers(create_rating(create_tenancy()))
        Carrier.write([t.alpha], {'state': 'disabled'})
        Carrier.write([t.beta], {
                'allowed_accounts': [('add', [t.owner_customer.id])]})
        decision = route_call(
            load_routing(), t.r1_plan.id, 'voice', '', '442071234567',
            MONDAY, account=t.r1_customer.id)
        self.assertEqual(decision.routes, ())
        self.assertEqual(
            sorted(s.reason for s in decision.skipped),
            ['disabled', 'restricted'])
        self.assertTrue(decision.reason)

    @with_transaction()
    def test_reseller_cannot_see_parent_carriers(self):
        "A reseller reads none of its parent's carriers or their prices"
        pool = Pool()
        Carrier = pool.get('telecom.carrier')
        CarrierRate = pool.get('telecom.carrier.rate')
        t = create_carriers(create_rating(create_tenancy()))
        with as_user(t.r1_user):
            self.assertEqual(Carrier.search([]), [])
            self.assertEqual(CarrierRate.search([]), [])
            with self.assertRaises(AccessError):
                Carrier.read([t.alpha.id], ['name'])

    @with_transaction()
    def test_policy_carriers_of_the_plan_tenant(self):
        "A policy and its rules use only the carriers of the plan's tenant"
        pool = Pool()
        Carrier = pool.get('telecom.carrier')
        Company = pool.get('company.company')
        Policy = pool.get('telecom.routing.policy')
        PolicyCarrier = pool.get('telecom.routing.policy.carrier')
        t = create_carriers(create_rating(create_tenancy()))
        Company.write([t.r1], {'routing_control': True})
        r1_carrier, = Carrier.create([{
                    'name': "R1 Trunk", 'code': 'r1-trunk',
                    'company': t.r1.id, 'currency': t.currency.id}])
        with self.assertRaisesRegex(RoutingPolicyError,
                'cannot use carrier "Alpha"'):
            Policy.create([{'plan': t.r1_plan.id,
                        'carriers': [('create', [
                                    {'carrier': t.alpha.id}])]}])
        with self.assertRaisesRegex(RoutingPolicyError,
                'cannot use carrier "R1 Trunk"'):
            PolicyCarrier.create([{
                        'policy': t.policy.id, 'carrier': r1_carrier.id}])
        with self.assertRaises(RoutingPolicyError):
            Policy.create([{'plan': t.r1_plan.id,
                        'rules': [('create', [{
                                        'callee_prefix': '44',
                                        'carriers': [('create', [
                                                    {'carrier': t.beta.id}
                                                    ])]}])]}])
        policy, = Policy.create([{'plan': t.r1_plan.id,
                    'carriers': [('create', [{'carrier': r1_carrier.id}])]}])

        # As the reseller: its parent's carrier is not named to it.
        with as_user(t.r1_user):
            with self.assertRaises(RoutingPolicyError) as context:
                PolicyCarrier.create([{
                            'policy': policy.id, 'carrier': t.alpha.id}])
            message = str(context.exception)
            self.assertIn(f'"#{t.alpha.id}"', message)
            self.assertNotIn("Alpha", message)
            self.assertNotIn("Owner", message)

    @with_transaction()
    def test_reseller_without_routing_control(self):
        "A reseller that does not control its routing defines no policy"
        pool = Pool()
        Company = pool.get('company.company')
        Policy = pool.get('telecom.routing.policy')
        t = create_carriers(create_rating(create_tenancy()))
        with as_user(t.r1_user):
            with self.assertRaisesRegex(RoutingPolicyError,
                    'does not control its routing'):
                Policy.create([{'plan': t.r1_plan.id}])
        Company.write([t.r1], {'routing_control': True})
        with as_user(t.r1_user):
            policy, = Policy.create([{'plan': t.r1_plan.id}])
            self.assertEqual(policy.strategy, 'least-cost')
            # Still not on its parent's plans.
            with self.assertRaises(AccessError):
                Policy.create([{'plan': t.owner_plan.id}])
