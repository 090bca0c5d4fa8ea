# Tenancy (owner → resellers → customers), customer accounts, their
# services, feature limits and roles. See README.md in this folder.
from . import wall
from .locking import hold_sqlite_transactions

hold_sqlite_transactions()
wall.install()
