# The generated Sourcegraph-shaped data bench/import and bench/scale load.

# bytes_of SIZE: SIZE (e.g. 200M, 2G) in bytes.
bytes_of() {
  python3 - "$1" <<'PY'
import re, sys
m = re.fullmatch(r"(\d+)([KMG]?)B?", sys.argv[1].upper())
if not m:
    sys.exit(f"bad size {sys.argv[1]!r}: use e.g. 200M or 2G")
print(int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)])
PY
}

# share_of SIZE SHARE: sg-datagen's --size for that share of SIZE (whole MiB, at least 1).
share_of() {
  python3 -c "import sys; print(f'{max(1, int(int(sys.argv[1]) * float(sys.argv[2])) >> 20)}M')" "$(bytes_of "$1")" "$2"
}

# load_sourcegraph_db PSQL_ARRAY DB SCHEMA DATA_SIZE GEN: DB made afresh with
# testdata/sourcegraph/SCHEMA.sql (indexes, constraints, triggers) and
# DATA_SIZE of `GEN` (sg-datagen) data, seed 1, then VACUUM ANALYZE.
# PSQL_ARRAY names an array holding a superuser psql command.
load_sourcegraph_db() {
  local -n _psql=$1
  local db=$2 schema=$3 size=$4 gen=$5
  "${_psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" -c "CREATE DATABASE \"$db\"" >/dev/null
  "${_psql[@]}" -d "$db" -f "testdata/sourcegraph/$schema.sql" >/dev/null
  "$gen" --db "$schema" --size "$size" --seed 1 --quiet --out - | "${_psql[@]}" -d "$db" >/dev/null
  "${_psql[@]}" -d "$db" -c "VACUUM ANALYZE" >/dev/null
}
