#!/bin/sh
# Runs once, when the data volume is empty: per service a database, the role that owns it (and migrates
# it), and the runtime role the service connects as, which owns nothing, so PostgreSQL's row policies bind
# it (docs/operations.md, Row-level security). The services never share tables. Passwords come from the
# mounted compose secrets.
set -eu
for service in identity contracts outcomes; do
    password="$(cat "/run/secrets/${service}_db_password")"
    app_password="$(cat "/run/secrets/${service}_app_db_password")"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -v role="$service" -v password="$password" -v db="effekt_${service}" \
        -v app="${service}_app" -v app_password="$app_password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE ROLE :"app" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
CREATE DATABASE :"db" OWNER :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app";
SQL
done
