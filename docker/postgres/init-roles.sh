#!/bin/sh
# First start of an empty PostgreSQL volume: a role each for Temporal and for xiaohao, and xiaohao's database.
# Temporal's databases are created by its schema job (temporal-schema); xiaohao's tables by `cli.py migrate`.
set -eu
psql -v ON_ERROR_STOP=1 --username postgres <<SQL
CREATE ROLE temporal LOGIN CREATEDB PASSWORD '${TEMPORAL_DB_PASSWORD}';
CREATE ROLE xiaohao LOGIN PASSWORD '${XIAOHAO_DB_PASSWORD}';
CREATE DATABASE xiaohao OWNER xiaohao;
SQL
