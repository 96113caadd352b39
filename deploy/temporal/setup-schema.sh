#!/bin/sh
# Creates Temporal's persistence and visibility databases on PostgreSQL and brings both schemas up
# to date with Temporal's own schema tool; safe to run again. The local cluster (`npm run cluster`)
# and docker-compose.yml (in the admin-tools image) both run this script.
#
#   SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD   where PostgreSQL is (read by the tool itself)
#   DBNAME, VISIBILITY_DBNAME                    temporal, temporal_visibility
#   SCHEMA_DIR                                   the server's schema/postgresql/v12
#   TEMPORAL_SQL_TOOL                            the tool (temporal-sql-tool on PATH)
set -eu
tool=${TEMPORAL_SQL_TOOL:-temporal-sql-tool}
schema=${SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}
export SQL_PLUGIN=postgres12

# Each step leaves what exists alone: create-database skips an existing database, setup-schema an
# already versioned one, and update-schema applies only the versions not yet applied.
setup() {
  SQL_DATABASE=$1 "$tool" create-database
  SQL_DATABASE=$1 "$tool" setup-schema -v 0.0
  SQL_DATABASE=$1 "$tool" update-schema -d "$2"
  echo "schema of $1 is up to date"
}

setup "${DBNAME:-temporal}" "$schema/temporal/versioned"
setup "${VISIBILITY_DBNAME:-temporal_visibility}" "$schema/visibility/versioned"
