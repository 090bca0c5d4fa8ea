"""``POST /v1/vouchers/redeem``: a customer redeems a prepaid voucher by
phone (F32). The switch's IVR collects the code and posts it with the
account's code, or with the caller's number when the customer calls from
one of its numbers; telecom_payment's ``Voucher.redeem`` credits the
balance exactly once.

The switch's key scopes it to its tenants' accounts, as for calls: an
account of another tenant is "unknown_account", never named. The Tryton
work runs in a worker thread in its own transaction (``_transact``).
"""
import logging
import time

from .validation import Invalid, number, require_object, string

logger = logging.getLogger('telecom.callcontrol.vouchers')
BODY = 4 * 1024
RETRIES = 10


class Vouchers:
    "The redemption endpoint of a CallControl (its switches and database)"

    def __init__(self, control, tryton=None):
        """``tryton``: an async callable running ``work(pool)`` inside a
        Tryton transaction and returning its result; by default a worker
        thread (the API's Tryton thread) with its own committed
        transaction (tests run it inline, in theirs)."""
        self.control = control
        self.tryton = tryton or self._in_worker

    async def _in_worker(self, work):
        return await self.control.in_tryton(self._transact, work)

    def _transact(self, work):
        """Run ``work`` in a transaction of its own and commit, the way
        trytond's dispatcher does: again with the table locks it asks for
        (posting an entry locks the journal's period), again when
        PostgreSQL reports that a concurrent redemption of the same code
        committed first — that run then finds the voucher redeemed."""
        from trytond import backend
        from trytond.pool import Pool
        from trytond.transaction import Transaction, TransactionError
        extras = {}
        for attempt in range(RETRIES):
            try:
                with Transaction().start(
                        self.control.database, 0, **extras) as transaction:
                    try:
                        result = work(Pool())
                    except TransactionError as exception:
                        transaction.rollback()
                        exception.fix(extras)
                        continue
                    transaction.commit()
                    return result
            except backend.DatabaseOperationalError:
                if attempt == RETRIES - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise RuntimeError("voucher redemption retried too often")

    async def redeem(self, request):
        from .server import json_response, read_json
        switch = self.control.switch_of(request)
        body = require_object(await read_json(request, BODY))
        code = string(body, 'code', max_length=64)
        account_code = string(body, 'account', False, max_length=64)
        caller = number(body, 'caller', False)
        if bool(account_code) == bool(caller):
            raise Invalid('account', "give either account or caller")

        def work(pool):
            from trytond.modules.telecom_payment.exceptions import (
                RedemptionError)
            Account = pool.get('telecom.account')
            Number = pool.get('telecom.number')
            try:
                Voucher = pool.get('telecom.voucher')
            except KeyError:
                # telecom_payment not activated: no voucher exists (a 500
                # schemathesis found)
                return 404, {'result': 'refused', 'reason': 'unknown',
                    'error': "vouchers are not activated on this platform"}
            if account_code:
                accounts = Account.search([('code', '=', account_code)])
            else:
                accounts = [n.account for n in Number.search(
                        [('number', '=', caller)])]
            accounts = [a for a in accounts
                if a.company.id in switch.companies]
            if not accounts:
                return 404, {'result': 'refused',
                    'reason': 'unknown_account',
                    'error': (f"no account {account_code}" if account_code
                        else f"no account has the number {caller}")
                    + " among this switch's customers"}
            account, = accounts
            try:
                amount = Voucher.redeem(code, account)
            except RedemptionError as exception:
                return 422, {'result': 'refused',
                    'reason': exception.reason,
                    'error': exception.message}
            return 200, {'result': 'credited',
                'account': account.code,
                'amount': str(account.currency.round(amount)),
                'currency': account.currency.code,
                'balance': str(account.currency.round(
                        Account(account.id).balance))}
        status, answer = await self.tryton(work)
        if status == 200:
            logger.info("voucher redeemed for %s", answer['account'])
        return json_response(answer, status)
