"""Rating fixtures on top of telecom_base's tenancy: the owner's wholesale
plan sold to Reseller One, and Reseller One's retail plan marking it up."""
import datetime as dt
from decimal import Decimal

from trytond.pool import Pool

UTC = dt.timezone.utc


def create_rating(t):
    """Add to tenancy ``t``: destination groups, the owner's plan on R1's
    account and R1's marked-up plan on its customer."""
    pool = Pool()
    Group = pool.get('telecom.destination.group')
    Plan = pool.get('telecom.rate.plan')
    Account = pool.get('telecom.account')

    t.uk_mobile, = Group.create([{
                'code': 'uk-mobile', 'name': "UK mobile",
                'prefixes': [('create', [{'prefix': '447'}])]}])
    t.owner_plan, = Plan.create([{
                'name': "Owner wholesale", 'company': t.owner.id,
                'currency': t.currency.id, 'decimals': 4,
                'rates': [('create', [
                            {'prefix': '44', 'destination': "UK",
                                'price': Decimal('0.0200')},
                            {'prefix': '447', 'destination': "UK mobile",
                                'price': Decimal('0.1000'),
                                'connect_fee': Decimal('0.0500'),
                                'increment_first': 30,
                                'increment_next': 6},
                            ])]}])
    t.r1_plan, = Plan.create([{
                'name': "R1 retail", 'company': t.r1.id,
                'currency': t.currency.id, 'decimals': 4,
                'parent': t.owner_plan.id,
                'markups': [('create', [
                            {'group': t.uk_mobile.id,
                                'percent': Decimal(20),
                                'per_minute': Decimal('0.0100')},
                            {'group': None, 'percent': Decimal(10)},
                            ])]}])
    t.r2_plan, = Plan.create([{
                'name': "R2 retail", 'company': t.r2.id,
                'currency': t.currency.id, 'decimals': 4,
                'parent': t.r1_plan.id,
                'markups': [('create', [
                            {'group': None, 'percent': Decimal(50)}])]}])
    Account.write([t.r1_account], {
            'rate_plans': [('add', [t.owner_plan.id])]})
    Account.write([t.r1_customer], {
            'rate_plans': [('add', [t.r1_plan.id])]})
    # Sub Reseller Two is billed by Reseller One.
    t.r2_account, = Account.create([{
                'party': t.r2.party.id, 'company': t.r1.id,
                'currency': t.currency.id, 'reseller': t.r2.id,
                'rate_plans': [('add', [t.r1_plan.id])]}])
    Account.write([t.r2_customer], {
            'rate_plans': [('add', [t.r2_plan.id])]})
    return t


def cdr(account, call_id, callee, start, duration, **values):
    "The values of a CDR for Cdr.ingest"
    return {
        'switch': 'test', 'call_id': call_id, 'leg': 'a',
        'account': account.id, 'caller': '442071230000', 'callee': callee,
        'start': start, 'duration': duration, **values}
