#!/bin/sh
# Temporal's persistence and visibility schemas on PostgreSQL, created once and upgraded on every deploy
# (update-schema applies only the versions a database lacks), so this job is safe to run again.
set -eu
tool() { temporal-sql-tool --plugin postgres12 --ep postgresql -p 5432 -u temporal "$@"; }
schemas=/etc/temporal/schema/postgresql/v12
for db in temporal temporal_visibility; do
    tool --db "$db" create 2>/dev/null || echo "database $db exists"
done
tool --db temporal setup-schema -v 0.0 2>/dev/null || echo "temporal schema exists: upgrading"
tool --db temporal update-schema -d "$schemas/temporal/versioned"
tool --db temporal_visibility setup-schema -v 0.0 2>/dev/null || echo "visibility schema exists: upgrading"
tool --db temporal_visibility update-schema -d "$schemas/visibility/versioned"
