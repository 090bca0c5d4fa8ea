from trytond.pool import PoolMeta


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('telecom.balance.line|post_pending',
                "Post Prepaid Movements"))
        cls.method.selection.append(
            ('account.invoice|telecom_send_unsent',
                "E-mail Prepaid Invoices Not Sent"))
