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
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool(database)
    pool.init()
    scope = {'pool': pool, 'Transaction': Transaction}
    with Transaction().start(database, 0) as transaction:
        exec(code, scope)
        transaction.commit()
    print(json.dumps(scope.get('result'), default=str))


if __name__ == '__main__':
    main()
