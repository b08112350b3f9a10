#!/usr/bin/env bash
# Runs once, on an empty data directory: one database per service, each owned by its own role,
# so that a service can reach only its own data (as in production).
set -euo pipefail

psql --set=ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    --set=profile_password="$PROFILE_DB_PASSWORD" \
    --set=recommender_password="$RECOMMENDER_DB_PASSWORD" <<'SQL'
CREATE ROLE rapport_profile LOGIN PASSWORD :'profile_password';
CREATE DATABASE rapport_profile OWNER rapport_profile;
REVOKE ALL ON DATABASE rapport_profile FROM PUBLIC;

CREATE ROLE rapport_recommender LOGIN PASSWORD :'recommender_password';
CREATE DATABASE rapport_recommender OWNER rapport_recommender;
REVOKE ALL ON DATABASE rapport_recommender FROM PUBLIC;
SQL
