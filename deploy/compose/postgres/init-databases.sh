#!/bin/sh
# Runs once, when the data volume is empty: one role and one database per service, each role owning only
# its database (the services never share tables). Passwords come from the mounted compose secrets.
set -eu
for service in identity contracts outcomes; do
    password="$(cat "/run/secrets/${service}_db_password")"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -v role="$service" -v password="$password" -v db="effekt_${service}" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
done
