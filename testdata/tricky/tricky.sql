-- Tricky data for the src-snapshot tests (see README.md). Load as superuser
-- into each source database after the schema and seed.
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone = %L', current_database(), 'Asia/Kolkata'); END $$;
SET timezone = 'Asia/Kolkata';
CREATE FUNCTION "public"."src_snapshot_tricky_fn"() RETURNS "text"
    LANGUAGE "sql"
    AS $body$
SELECT '
CREATE EXTENSION pg_stat_statements;
COMMENT ON EXTENSION x IS ''y'';
SET transaction_timeout = 0;
\connect other
\restrict fake
ok; '' $$ nested'::text
$body$;
CREATE TABLE "public"."src_snapshot_tricky" (
    "id" integer PRIMARY KEY,
    "t" "text",
    "f4" real,
    "f8" double precision,
    "f8a" double precision[],
    "ts" timestamp with time zone,
    "tsa" timestamp with time zone[],
    "b" "bytea",
    "n" numeric,
    "iv" interval,
    "j" "jsonb",
    "ta" "text"[],
    "tsn" timestamp without time zone
);
INSERT INTO "public"."src_snapshot_tricky" VALUES
 (1, E'line1\nline2\ttab\\backslash\r\n\\.\n\\.', 0.1, 0.1, '{0.1,NaN,Infinity,-Infinity,NULL}', '2023-06-14 10:00:00.123456+02', '{"2020-01-01 00:00:00+00","1999-12-31 23:59:59.5-08"}', '\x000102030405060708090a0b0c0d0e0f10ff'::bytea, 3.14159265358979323846264338327950288419716939937510, '1 year 2 mons 3 days 04:05:06.789', '{"k": [1, 2.50, "x\u0001y"], "a": {"b": null}}', '{"a,b","c\"d","",NULL}', '2023-01-01 12:00:00'),
 (2, E'COPY public.repo FROM stdin;\nCREATE EXTENSION pg_stat_statements;\n\\connect other\n-- not a comment; DROP TABLE users;', 'NaN', 'Infinity', '{}', 'infinity', '{}', ''::bytea, 'NaN', '-1 days', '[]', '{}', 'infinity'),
 (3, E'\u00e9\u00dc\U0001F680 \u4e2d\u6587 \u0001 \u007f', '-0', '-0', '{{1.5,2.5},{-0,1e-300}}', '0044-03-15 12:00:00+00 BC', NULL, decode(repeat('00ff7f80', 64), 'hex'), '-0.000000000000000000001', '00:00:00', 'null', '{"\\"}', NULL),
 (4, NULL, 'Infinity', '-Infinity', NULL, '-infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (5, '', 3.4028235e38, 1.7976931348623157e308, '{2.2250738585072014e-308,4.9e-324}', '1900-01-01 00:00:00+05:21:10', '{"2038-01-19 03:14:08+00"}', '\x5c2e0a'::bytea, 1e100, '-178000000 years', '"\\."', '{"\\.","COPY x FROM stdin;"}', '2000-02-29 23:59:59.999999');
INSERT INTO "public"."src_snapshot_tricky"
SELECT g, repeat(md5(g::text), 3), g / 7.0, g / 3.0, ARRAY[g / 11.0],
       '2024-01-01 00:00:00+00'::timestamptz + g * interval '37 minutes', NULL,
       decode(md5(g::text), 'hex'), g, g * interval '1 second', jsonb_build_object('g', g), ARRAY[g::text], NULL
FROM generate_series(6, 2000) g;
