# What the peers run, shared by the bench scripts.

# src-cli's filter (REFERENCE.md §1): before the first CREATE TABLE or
# INSERT INTO, comment out database/schema/extension statements,
# SET transaction_timeout and \connect.
# shellcheck disable=SC2034
SED_FILTER='/^(CREATE TABLE|INSERT INTO)/,$!{s/^(DROP DATABASE|CREATE DATABASE|COMMENT ON DATABASE|DROP SCHEMA|CREATE SCHEMA|COMMENT ON SCHEMA|DROP EXTENSION|CREATE EXTENSION|COMMENT ON EXTENSION|SET transaction_timeout|\\connect)/-- \1/}'
