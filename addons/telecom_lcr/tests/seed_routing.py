"""Give a fresh database (telecom_lcr activated) the tenancy of the tests,
the owner's plans, carriers Alpha and Beta and a least-cost policy, and
commit — for the ``telecom`` commands run as subprocesses by
test_commands.py.

Run as ``python seed_routing.py CONFIG DATABASE``.
"""
import sys

from trytond import config
config.update_etc(sys.argv[1])
from trytond.pool import Pool  # noqa: E402
from trytond.transaction import Transaction  # noqa: E402

database = sys.argv[2]
pool = Pool(database)
pool.init()
with Transaction().start(database, 0) as transaction:
    from trytond.modules.telecom_base.tests.tools import create_tenancy
    from trytond.modules.telecom_lcr.tests.tools import create_carriers
    from trytond.modules.telecom_rating.tests.tools import create_rating
    with transaction.set_context(company=None):
        create_carriers(create_rating(create_tenancy()))
    transaction.commit()
