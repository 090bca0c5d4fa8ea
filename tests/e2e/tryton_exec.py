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
    from trytond.transaction import Transaction, TransactionError
    pool = Pool(database)
    pool.init()
    extras = {}
    while True:
        scope = {'pool': pool, 'Transaction': Transaction}
        with Transaction().start(database, 0, **extras) as transaction:
            try:
                exec(code, scope)
            except TransactionError as error:
                # Table locks asked for (a singleton's first save, on
                # SQLite): again holding them, as trytond's dispatcher.
                transaction.rollback()
                error.fix(extras)
                continue
            transaction.commit()
        break
    print(json.dumps(scope.get('result'), default=str))


if __name__ == '__main__':
    main()
