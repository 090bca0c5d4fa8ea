#!/bin/sh
# Start a server process of the suite. The same script runs in the
# containers of docker/compose.yaml and in the test that checks it
# (tests/e2e/test_docker_entrypoint.py) against a local PostgreSQL.
#
#   TRYTOND_DATABASE__URI  postgresql://user:password@host:5432/
#   DATABASE               the database name (default: telecom)
#   TRYTON_CONFIG          configuration file (default: /etc/trytond.conf)
#   ADMIN_PASSWORD_FILE    file holding the admin password of a new database
#
# The first argument says which process: trytond (web + RPC), trytond-cron
# or trytond-worker. Only "trytond" creates or updates the database.
set -eu
DATABASE=${DATABASE:-telecom}
TRYTON_CONFIG=${TRYTON_CONFIG:-/etc/trytond.conf}
process=${1:-trytond}
shift || true

if [ "$process" = "trytond" ]; then
    uri=${TRYTOND_DATABASE__URI:?set TRYTOND_DATABASE__URI}
    # Wait for PostgreSQL (compose starts services in parallel).
    i=0
    until psql "${uri%/}/postgres" -qtAc 'SELECT 1' >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt 60 ] && { echo "PostgreSQL does not answer" >&2; exit 1; }
        sleep 1
    done
    if ! psql "${uri%/}/postgres" -qtAc \
            "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'" | grep -q 1; then
        psql "${uri%/}/postgres" -qc "CREATE DATABASE \"$DATABASE\" ENCODING 'UTF8'"
    fi
    TRYTONPASSFILE=${ADMIN_PASSWORD_FILE:-} trytond-admin -c "$TRYTON_CONFIG" \
        -d "$DATABASE" --all --email "${ADMIN_EMAIL:-admin@example.net}"
    # The whole suite (every module of the distribution), as make demo.
    telecom activate -c "$TRYTON_CONFIG" -d "$DATABASE"
fi
exec "$process" -c "$TRYTON_CONFIG" -d "$DATABASE" "$@"
