"""Run Python in a Tryton transaction of DATABASE and print ``result`` as
JSON; the code comes on stdin. Tests use it to look at (or change) a
database that a server process also uses, without sharing its process.

    python -m tests.e2e.tryton_exec CONFIG DATABASE < code.py
"""
import json
import sys


def main():
    config, database = sys.argv[1:3]
    code = sys.stdin.read()
    from trytond import config as tryton_config
    tryton_config.update_etc(config)
    from trytond.modules.telecom_base.locking import run_committed
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    Pool(database).init()

    def work(pool):
        # A fresh scope each try: a retried run sees nothing of the last
        scope = {'pool': pool, 'Transaction': Transaction}
        exec(code, scope)
        return scope.get('result')
    print(json.dumps(run_committed(database, work), default=str))


if __name__ == '__main__':
    main()
