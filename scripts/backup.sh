#!/usr/bin/env bash
# Backs up Incubator: the PostgreSQL database (pg_dump, custom format) and the stored files (MEDIA_ROOT), with a
# manifest to check a restore against (scripts/restore.sh): row counts per table and the migrations applied,
# taken in the very snapshot pg_dump dumps, the SHA-256 of every file, and the git commit.
#
#   DATABASE_URL=postgres://user:pass@host:5432/incubator scripts/backup.sh [--output DIR] [--media-dir DIR | --no-media]
#
# Writes one directory (default var/backups/incubator-<UTC time>), complete only once its SHA256SUMS exists:
#   database.dump   pg_dump --format=custom
#   media.tar       the files under the media directory (the upload spool .uploads left out)
#   files.sha256    sha256sum lines of every file in media.tar, relative to the media directory
#   tables.tsv      schema.table <TAB> rows, in the dump's snapshot
#   migrations.tsv  app <TAB> migration, in the order applied (django_migrations)
#   manifest.txt    when, from where (no password), the versions, the git commit and the totals
#   SHA256SUMS      the checksums of everything above (restore.sh checks it first)
# With object storage (AWS_STORAGE_BUCKET_NAME set) the files are in the bucket, not on this machine: the backup
# holds the database only, unless --media-dir names a directory; back the bucket up with its own versioning and
# replication, or `aws s3 sync` (docs/deploy.md, "Backups and restore").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
    sed -n '2,/^set -euo/{/^#/p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 1
}
die() {
    echo "backup: $*" >&2
    exit 1
}

output=""
media="${MEDIA_ROOT:-$ROOT/var/media}"
with_media=1
media_given=0
while [ $# -gt 0 ]; do
    case "$1" in
    --output) output=${2:?--output needs a directory}; shift 2 ;;
    --output=*) output=${1#*=}; shift ;;
    --media-dir) media=${2:?--media-dir needs a directory}; media_given=1; shift 2 ;;
    --media-dir=*) media=${1#*=}; media_given=1; shift ;;
    --no-media) with_media=0; shift ;;
    -h | --help) usage ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done

url=${DATABASE_URL:-}
case "$url" in
postgres://* | postgresql://*) ;;
"") die "DATABASE_URL is not set (postgres://user:password@host:5432/name)" ;;
*) die "DATABASE_URL is not PostgreSQL (${url%%://*}); only PostgreSQL deployments are backed up by this script" ;;
esac
for tool in pg_dump psql tar sha256sum; do
    command -v "$tool" >/dev/null || die "$tool is not installed (postgresql-client, tar, coreutils)"
done

if [ -n "${AWS_STORAGE_BUCKET_NAME:-}" ] && [ "$media_given" = 0 ] && [ "$with_media" = 1 ]; then
    echo "backup: dataset files are in the bucket s3://$AWS_STORAGE_BUCKET_NAME, not on this machine: backing up" \
        "the database only (back the bucket up with its versioning/replication, or aws s3 sync)" >&2
    with_media=0
    media_note="s3://$AWS_STORAGE_BUCKET_NAME (not included)"
elif [ "$with_media" = 1 ]; then
    [ -d "$media" ] || die "the media directory $media does not exist (MEDIA_ROOT, --media-dir, or --no-media)"
    media=$(cd "$media" && pwd)
    media_note=$media
else
    media_note="not included (--no-media)"
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
output=${output:-$ROOT/var/backups/incubator-$stamp}
[ -e "$output" ] && die "$output already exists"
mkdir -p "$(dirname "$output")"
output=$(cd "$(dirname "$output")" && pwd)/$(basename "$output")
if [ "$with_media" = 1 ]; then
    case "$output/" in "$media"/*) die "the output $output is inside the media directory $media" ;; esac
fi
# Written under another name and renamed at the end: an interrupted backup never looks like a complete one.
work="$output.partial"
rm -rf "$work"
mkdir -p "$work"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

# One REPEATABLE READ transaction exports its snapshot; pg_dump dumps exactly that snapshot, and the row counts
# and the migration list are read in it too, so the manifest describes the dump even while the service writes.
coproc PSQL { psql -X -q -At -F $'\t' -v ON_ERROR_STOP=1 "$url" 2>&1; }
psql_in=${PSQL[1]}
psql_out=${PSQL[0]}
# shellcheck disable=SC2153 # PSQL_PID is set by coproc
psql_pid=$PSQL_PID

# Runs SQL in the open transaction and prints its rows (tab-separated); fails on any error psql reports.
in_snapshot() {
    printf '%s\n\\echo __done__\n' "$1" >&"$psql_in"
    local line
    while IFS= read -r -t 600 line <&"$psql_out"; do
        [ "$line" = "__done__" ] && return 0
        case "$line" in
        psql:* | ERROR:* | FATAL:*) die "psql: $line" ;;
        esac
        printf '%s\n' "$line"
    done
    die "psql stopped answering (is the database reachable?)"
}

snapshot=$(in_snapshot "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT pg_export_snapshot();")
[ -n "$snapshot" ] || die "could not open a snapshot of the database"

# Every table's rows, counted by the server (query_to_xml runs one count(*) per table in this transaction).
in_snapshot "
SELECT format('%I.%I', n.nspname, c.relname),
       (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname),
                                            false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY 1;" >"$work/tables.tsv"
[ -s "$work/tables.tsv" ] || die "the database has no tables: is DATABASE_URL the right database?"
if grep -q $'^public\.django_migrations\t' "$work/tables.tsv"; then
    in_snapshot "SELECT app, name FROM django_migrations ORDER BY id;" >"$work/migrations.tsv"
else
    : >"$work/migrations.tsv"
fi
server_version=$(in_snapshot "SHOW server_version;")

pg_dump --snapshot="$snapshot" --format=custom --file="$work/database.dump" "$url" ||
    die "pg_dump failed"

in_snapshot "COMMIT;" >/dev/null
exec {psql_in}>&-
wait "$psql_pid" || true

files=0
if [ "$with_media" = 1 ]; then
    # One sorted list for the archive and the checksums, so both hold the same files. Stored files are never
    # rewritten in place (new names only), so reading them after the dump is consistent with it, except for
    # files deleted in between (a few orphans or, rarely, a missing file: restore reports it).
    (cd "$media" && find . -path ./.uploads -prune -o -type f -print0 | LC_ALL=C sort -z) >"$work/files.list"
    tar --create --file="$work/media.tar" --directory="$media" --no-recursion --null \
        --files-from="$work/files.list" || die "tar failed"
    (cd "$media" && xargs -0 -r sha256sum --) <"$work/files.list" >"$work/files.sha256"
    files=$(tr -cd '\0' <"$work/files.list" | wc -c)
    rm "$work/files.list"
else
    tar --create --file="$work/media.tar" --files-from=/dev/null
    : >"$work/files.sha256"
fi

commit=${CI_COMMIT_SHA:-${GIT_COMMIT:-}}
if [ -z "$commit" ] && command -v git >/dev/null; then
    commit=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || true)
fi
where=${url#*://}
where=${where##*@}   # host:port/name, without user and password
where=${where%%\?*}
{
    echo "format: incubator-backup 1"
    echo "created_at: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "database: $where"
    echo "server_version: $server_version"
    echo "pg_dump: $(pg_dump --version)"
    echo "git_commit: ${commit:-unknown}"
    echo "media: $media_note"
    echo "files: $files"
    echo "tables: $(wc -l <"$work/tables.tsv")"
    echo "rows: $(awk -F '\t' '{ total += $2 } END { print total + 0 }' "$work/tables.tsv")"
    echo "migrations: $(wc -l <"$work/migrations.tsv")"
    echo "last_migration: $(tail -n 1 "$work/migrations.tsv" | tr '\t' '.')"
} >"$work/manifest.txt"

(cd "$work" && sha256sum database.dump media.tar files.sha256 tables.tsv migrations.tsv manifest.txt >SHA256SUMS)
mv "$work" "$output"
trap - EXIT
echo "backup: $output ($(wc -l <"$output/tables.tsv") tables, $files files)"
