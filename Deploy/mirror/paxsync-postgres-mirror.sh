#!/usr/bin/env bash
# Mirrors a paxsync node's shared records into PostgreSQL with `paxsync feed`.
#
#   PAXSYNC_DATA_DIR=/var/lib/paxsync PGDATABASE=minerals Deploy/mirror/paxsync-postgres-mirror.sh [--once]
#
# Connects with psql's usual settings (PGHOST, PGPORT, PGUSER, PGDATABASE, ...);
# runs `paxsync` from PATH (PAXSYNC=/path/to/paxsync to choose another). Creates,
# if missing:
#   paxsync_records(tbl, key, row jsonb, entry, position)  one row per live record,
#       `row` holding every column (keys included) as paxsync merged it;
#   paxsync_mirror_position(position)  the last entry whose changes are all in.
# Each round reads the feed after that position and loads it with one COPY, one
# transaction: a round that fails leaves the mirror as it was, and the next one
# starts again from the stored position (a change applied twice writes the same
# row). Rounds run every MIRROR_INTERVAL seconds (default 0.5) until stopped;
# --once runs one round and exits. At most MIRROR_BATCH entries (default 10000)
# per round, so a first run over a large log commits as it goes.
#
# Query it like any table:
#   SELECT row->>'status', row->>'eta' FROM paxsync_records WHERE tbl = 'shipments';
set -euo pipefail
PAXSYNC=${PAXSYNC:-paxsync}
interval=${MIRROR_INTERVAL:-0.5}
batch=${MIRROR_BATCH:-10000}
once=false
case "${1:-}" in
  --once) once=true ;;
  "") ;;
  *) echo "usage: $0 [--once]" >&2; exit 64 ;;
esac

psql_() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
# Stopped (systemctl stop, Ctrl-C): end after the round in progress, which
# committed or rolled back as a whole.
trap 'exit 0' TERM INT

psql_ <<'SQL'
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS paxsync_records (
    tbl text NOT NULL,
    key text NOT NULL,
    row jsonb NOT NULL,
    entry text NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (tbl, key)
);
CREATE TABLE IF NOT EXISTS paxsync_mirror_position (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    position bigint NOT NULL
);
INSERT INTO paxsync_mirror_position(position) VALUES (0) ON CONFLICT DO NOTHING;
-- Feed lines land here and are applied by the trigger; nothing is kept in it.
CREATE TABLE IF NOT EXISTS paxsync_feed_in (doc jsonb NOT NULL);
CREATE OR REPLACE FUNCTION paxsync_feed_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF jsonb_typeof(NEW.doc->'row') IS DISTINCT FROM 'object' THEN
        DELETE FROM paxsync_records WHERE tbl = NEW.doc->>'table' AND key = NEW.doc->>'key';
    ELSE
        INSERT INTO paxsync_records(tbl, key, row, entry, position)
        VALUES (NEW.doc->>'table', NEW.doc->>'key', NEW.doc->'row', NEW.doc->>'entry', (NEW.doc->>'position')::bigint)
        ON CONFLICT (tbl, key) DO UPDATE SET row = EXCLUDED.row, entry = EXCLUDED.entry, position = EXCLUDED.position;
    END IF;
    IF (NEW.doc->>'last')::boolean THEN
        UPDATE paxsync_mirror_position SET position = (NEW.doc->>'position')::bigint
        WHERE position < (NEW.doc->>'position')::bigint;
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS paxsync_feed_apply ON paxsync_feed_in;
CREATE TRIGGER paxsync_feed_apply BEFORE INSERT ON paxsync_feed_in FOR EACH ROW EXECUTE FUNCTION paxsync_feed_apply();
SQL

# NDJSON into COPY's CSV format with quote and delimiter bytes (0x01, 0x02) that
# JSON text never holds raw (its encoder escapes control characters), so each
# line arrives as one jsonb value, backslashes and quotes untouched.
copy="\\copy paxsync_feed_in(doc) FROM STDIN WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
while :; do
  since=$(psql_ -At -c "SELECT position FROM paxsync_mirror_position")
  "$PAXSYNC" feed --json --since "$since" --limit "$batch" | psql_ -c "$copy"
  $once && break
  sleep "$interval"
done
