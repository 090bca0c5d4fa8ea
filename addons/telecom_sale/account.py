from collections import defaultdict

from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import without_check_access


class Account(metaclass=PoolMeta):
    __name__ = 'telecom.account'
    subscriptions = fields.One2Many(
        'telecom.subscription', 'account', "Subscriptions")

    @classmethod
    def update_extra_calls(cls, accounts=None, date=None):
        """Set the extra concurrent calls (telecom_switch) of ``accounts``
        (default: every account that ever bought a package) to what their
        packages subscribed on ``date`` add up to.

        Called when a subscription changes, and daily by the cron so a
        package that starts or ends on a date takes effect that day. An
        account that never bought a package keeps the extra calls entered
        by hand."""
        pool = Pool()
        Subscription = pool.get('telecom.subscription')
        Date = pool.get('ir.date')
        if date is None:
            date = Date.today()
        domain = [('product.template.telecom_kind', '=', 'concurrent_calls')]
        if accounts is not None:
            domain.append(('account', 'in', [a.id for a in accounts]))
        with without_check_access():
            subscriptions = Subscription.search(domain, order=[])
            extra = defaultdict(int)
            for subscription in subscriptions:
                extra[subscription.account] += (
                    subscription.product.template.extra_calls
                    * subscription.quantity
                    if subscription.active_on(date) else 0)
            if accounts is not None:
                for account in accounts:
                    extra.setdefault(cls(account.id), 0)
            to_write = []
            for account, calls in extra.items():
                if (account.extra_calls or 0) != calls:
                    to_write.extend([[account], {'extra_calls': calls}])
            if to_write:
                cls.write(*to_write)
