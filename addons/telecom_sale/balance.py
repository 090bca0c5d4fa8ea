from trytond.pool import PoolMeta


class BalanceLine(metaclass=PoolMeta):
    __name__ = 'telecom.balance.line'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # No longer written: a prepaid order is paid by its invoice's
        # settlement (kind invoice). Kept so the movements an older
        # version wrote still show their kind and origin; nothing books
        # them (see README, "Upgrading").
        cls.kind.selection.append(('purchase', "Shop Purchase"))

    @classmethod
    def get_origins(cls):
        return super().get_origins() + [('sale.sale', "Sale")]
