from trytond.pool import PoolMeta


class BalanceLine(metaclass=PoolMeta):
    __name__ = 'telecom.balance.line'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.kind.selection.append(('affiliate', "Affiliate"))

    @classmethod
    def get_origins(cls):
        return super().get_origins() + [('commission', "Commission")]
