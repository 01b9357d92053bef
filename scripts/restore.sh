#!/usr/bin/env bash
# Restores a backup made by scripts/backup.sh into a database and a media directory, and proves it: the backup's
# own checksums first, then every file against files.sha256, then every table's row count against tables.tsv.
#
#   scripts/restore.sh [--force] [--media-dir DIR | --no-media] BACKUP [TARGET_DATABASE_URL]
#
# BACKUP is the backup's directory (or a .tar of it). The target database defaults to DATABASE_URL, the media
# directory to MEDIA_ROOT (else var/media). A target database that holds any table, or a media directory that
# holds any file, is refused unless --force: then the dump's objects are dropped and recreated (pg_restore
# --clean) and the old media directory is kept beside the new one as DIR.pre-restore-<UTC time>.
# Exit codes: 0 restored and verified, 1 usage or a tool failed, 2 refused (target not empty),
# 3 the backup is damaged (a checksum differs or a file is missing), 4 the restored row counts differ.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
    sed -n '2,/^set -euo/{/^#/p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 1
}
fail() {
    local code=$1
    shift
    echo "restore: $*" >&2
    exit "$code"
}

force=0
with_media=1
media="${MEDIA_ROOT:-$ROOT/var/media}"
positional=()
while [ $# -gt 0 ]; do
    case "$1" in
    --force) force=1; shift ;;
    --media-dir) media=${2:?--media-dir needs a directory}; shift 2 ;;
    --media-dir=*) media=${1#*=}; shift ;;
    --no-media) with_media=0; shift ;;
    -h | --help) usage ;;
    -*) fail 1 "unknown option: $1 (see --help)" ;;
    *) positional+=("$1"); shift ;;
    esac
done
if [ ${#positional[@]} -lt 1 ] || [ ${#positional[@]} -gt 2 ]; then usage; fi
backup=${positional[0]}
url=${positional[1]:-${DATABASE_URL:-}}
case "$url" in
postgres://* | postgresql://*) ;;
"") fail 1 "no target database: pass TARGET_DATABASE_URL or set DATABASE_URL" ;;
*) fail 1 "the target database is not PostgreSQL (${url%%://*})" ;;
esac
for tool in pg_restore psql tar sha256sum; do
    command -v "$tool" >/dev/null || fail 1 "$tool is not installed (postgresql-client, tar, coreutils)"
done

scratch=$(mktemp -d)
staging=""
cleanup() {
    rm -rf "$scratch"
    if [ -n "$staging" ]; then rm -rf "$staging"; fi
}
trap cleanup EXIT

if [ -f "$backup" ]; then
    tar --extract --file="$backup" --directory="$scratch" || fail 3 "$backup is not a readable tar"
    found=$(find "$scratch" -name SHA256SUMS -printf '%h\n' | head -n 1)
    [ -n "$found" ] || fail 3 "$backup holds no SHA256SUMS: not a backup of scripts/backup.sh"
    backup=$found
fi
[ -d "$backup" ] || fail 1 "$backup is neither a directory nor a file"
backup=$(cd "$backup" && pwd)
[ -f "$backup/SHA256SUMS" ] || fail 3 "$backup has no SHA256SUMS: an unfinished or foreign backup"

# 1. The backup is what backup.sh wrote.
(cd "$backup" && sha256sum --check --strict --quiet SHA256SUMS) >&2 ||
    fail 3 "the backup in $backup is damaged: a checksum in SHA256SUMS does not match"
for part in database.dump media.tar files.sha256 tables.tsv; do
    grep -q "  $part\$" "$backup/SHA256SUMS" || fail 3 "SHA256SUMS does not cover $part"
done

# 2. The targets are empty (or --force).
target_tables() {
    psql -X -q -At -v ON_ERROR_STOP=1 "$url" -c "
        SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%';"
}
existing=$(target_tables) || fail 1 "cannot connect to the target database"
if [ "$existing" != 0 ] && [ "$force" = 0 ]; then
    fail 2 "the target database is not empty ($existing tables, sequences or views): create a new one, or --force"
fi
if [ "$with_media" = 1 ]; then
    media_parent=$(dirname "$media")
    mkdir -p "$media_parent"
    media="$(cd "$media_parent" && pwd)/$(basename "$media")"
    if [ -d "$media" ] && [ -n "$(find "$media" -mindepth 1 -print -quit)" ] && [ "$force" = 0 ]; then
        fail 2 "the media directory $media is not empty: choose another, or --force"
    fi
fi

# 3. The files, extracted beside the target (same filesystem, so putting them in place is a rename) and checked
#    one by one before the database is touched.
if [ "$with_media" = 1 ]; then
    staging=$(mktemp -d "$media_parent/.restore-XXXXXX")
    tar --extract --file="$backup/media.tar" --directory="$staging" --no-same-owner ||
        fail 3 "media.tar cannot be extracted"
    if [ -s "$backup/files.sha256" ] &&
        ! (cd "$staging" && sha256sum --check --strict --quiet "$backup/files.sha256") >"$scratch/files.check" 2>&1; then
        cat "$scratch/files.check" >&2
        fail 3 "a restored file does not match its checksum in files.sha256 (listed above)"
    fi
    expected=$(wc -l <"$backup/files.sha256")
    actual=$(find "$staging" -type f | wc -l)
    [ "$expected" = "$actual" ] || fail 3 "media.tar holds $actual files, files.sha256 lists $expected"
fi

# 4. The database: one transaction, so a failure leaves the target as it was.
clean=()
if [ "$force" = 1 ]; then clean=(--clean --if-exists); fi
pg_restore --dbname="$url" --single-transaction --exit-on-error --no-owner --no-privileges "${clean[@]}" \
    "$backup/database.dump" || fail 1 "pg_restore failed; the target database is unchanged"

# 5. Every table of the manifest holds as many rows as when it was dumped.
psql -X -q -At -F $'\t' -v ON_ERROR_STOP=1 "$url" -c "
SELECT format('%I.%I', n.nspname, c.relname),
       (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname),
                                            false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY 1;" >"$scratch/tables.tsv" || fail 1 "cannot count the restored rows"
if ! awk -F '\t' '
    NR == FNR { restored[$1] = $2; next }
    !($1 in restored) { printf "restore: table %s is missing\n", $1 > "/dev/stderr"; bad = 1; next }
    restored[$1] != $2 { printf "restore: %s has %s rows, the backup had %s\n", $1, restored[$1], $2 > "/dev/stderr"; bad = 1 }
    END { exit bad }' "$scratch/tables.tsv" "$backup/tables.tsv"; then
    fail 4 "the restored database does not match the backup's row counts"
fi

# 6. The files in place.
if [ "$with_media" = 1 ]; then
    if [ -e "$media" ]; then
        aside="$media.pre-restore-$(date -u +%Y%m%dT%H%M%SZ)"
        mv "$media" "$aside"
        echo "restore: the previous media directory is now $aside" >&2
    fi
    mv "$staging" "$media"
    staging=""
    chmod 755 "$media"
fi

echo "restore: $(wc -l <"$backup/tables.tsv") tables and $( [ "$with_media" = 1 ] && wc -l <"$backup/files.sha256" || echo 0) files" \
    "restored and verified from $backup"
sed -n 's/^\(created_at\|git_commit\|last_migration\): /restore:   \1 /p' "$backup/manifest.txt"
