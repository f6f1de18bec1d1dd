//! The scripts that back up and restore the metadata stores, each run by a Job in the
//! store's own image (so the client matches the server) with `sh -c`, reading only
//! their environment and the credential files the store's own pods mount. POSIX sh:
//! the Redis image has BusyBox's. Each backup script ends by printing one line of
//! JSON, `{"file":…,"bytes":…,"sha256":…}`, the Job's result (its termination
//! message); each restore script first checks the file against the checksum it was
//! given and refuses a mismatch.
//!
//! Upstream, at the tags the stacks pin:
//! - `mysql:8.4` (docker-library/mysql `8.4/Dockerfile.oracle`): `mysqldump` and
//!   `mysql` from `mysql-community-server-minimal` and its client, `gzip` installed
//!   explicitly, bash. The app user has `ALL` on its database only, so the dump
//!   takes `--no-tablespaces` (the MySQL 8.4 manual, mysqldump: "PROCESS if the
//!   --no-tablespaces option is not used") and `--single-transaction` (no `LOCK
//!   TABLES` needed, a consistent InnoDB snapshot).
//! - `postgres:17` (docker-library/postgres `17/trixie/Dockerfile`): `pg_dump`,
//!   `pg_restore` and `psql` from `postgresql-17`; the custom format is compressed
//!   and restored selectively by `pg_restore`.
//! - `redis:7.4-alpine` (redis/docker-library-redis `7.4/alpine/Dockerfile`):
//!   `redis-cli --rdb` asks the server for a full sync (`SYNC`, allowed to the
//!   `requirepass` default user) and writes the RDB it sends.
//!
//! Tested for real in `tests/backup_scripts.rs` against Debian's MariaDB,
//! PostgreSQL and Redis: rows written, backed up, dropped, restored, compared.

/// Shared: the result line (also to `$RESULT_FILE` when set), the backup's
/// directory, and the checksum check of a restore. `sha256sum` is in
/// coreutils (Debian, Oracle Linux) and BusyBox (Alpine) alike.
const COMMON: &str = r#"set -eu
umask 077
result() {
  bytes=$(wc -c < "$1" | tr -d ' ')
  sum=$(sha256sum "$1" | cut -d ' ' -f 1)
  line=$(printf '{"file":"%s","bytes":%s,"sha256":"%s"}' "$(basename "$1")" "$bytes" "$sum")
  printf '%s\n' "$line"
  # The Job's pod: its termination message, read back by stackctl.
  if [ -n "${RESULT_FILE:-}" ]; then printf '%s' "$line" > "$RESULT_FILE"; fi
}
out_dir() { mkdir -p "$(dirname "$1")"; }
verify() {
  sum=$(sha256sum "$1" | cut -d ' ' -f 1)
  if [ "$sum" != "$EXPECTED_SHA256" ]; then
    echo "refusing to restore $1: its sha256 is $sum, the backup recorded $EXPECTED_SHA256" >&2
    exit 1
  fi
}
"#;

/// MySQL's client options on a file only this script can read: the password never
/// appears in an argument or the environment of the client. In option files a
/// backslash escapes and a `"` ends a quoted value, so both are escaped (as the
/// image's own entrypoint and the readiness probe do).
const MYSQL_OPTIONS: &str = r#"options="${TMPDIR:-/tmp}/backup-client.cnf"
esc() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }
pw=$(cat "$MYSQL_PASSWORD_FILE")
printf '[client]\nuser="%s"\npassword="%s"\nhost="%s"\nport=%s\nprotocol=TCP\n' \
  "$(esc "$MYSQL_USER")" "$(esc "$pw")" "$(esc "$HOST")" "$PORT" > "$options"
trap 'rm -f "$options"' EXIT
"#;

/// Env: `HOST`, `PORT`, `DATABASE`, `MYSQL_USER`, `MYSQL_PASSWORD_FILE`, `OUT` (the
/// `.sql.gz` to write). The dump is written whole before it is compressed: plain
/// sh has no `pipefail`, and a failed dump must fail the backup, not leave a short
/// file with a good checksum.
pub fn mysql_dump() -> String {
    format!(
        r#"{COMMON}out_dir "$OUT"
{MYSQL_OPTIONS}mysqldump --defaults-extra-file="$options" \
  --single-transaction --no-tablespaces --routines --events --triggers \
  --databases "$DATABASE" > "$OUT.sql"
gzip -n -c "$OUT.sql" > "$OUT"
rm -f "$OUT.sql"
result "$OUT"
"#
    )
}

/// Env: as [`mysql_dump`], with `IN` (the `.sql.gz`) and `EXPECTED_SHA256`. The
/// database is dropped and made again from the dump (which creates it and its
/// tables), so tables made since the backup do not survive it: the database is as
/// it was.
pub fn mysql_restore() -> String {
    format!(
        r#"{COMMON}verify "$IN"
{MYSQL_OPTIONS}gzip -d -c "$IN" > "${{TMPDIR:-/tmp}}/restore.sql"
db=$(printf '%s' "$DATABASE" | sed 's/`/``/g')
mysql --defaults-extra-file="$options" -e "DROP DATABASE IF EXISTS \`$db\`"
mysql --defaults-extra-file="$options" < "${{TMPDIR:-/tmp}}/restore.sql"
rm -f "${{TMPDIR:-/tmp}}/restore.sql"
echo "restored $DATABASE from $(basename "$IN")"
"#
    )
}

/// Env: `HOST`, `PORT`, `DATABASE`, `PGUSER`, `PASSWORD_FILE`, `OUT` (the
/// custom-format `.dump`).
pub fn postgres_dump() -> String {
    format!(
        r#"{COMMON}out_dir "$OUT"
PGPASSWORD=$(cat "$PASSWORD_FILE")
export PGPASSWORD
pg_dump -h "$HOST" -p "$PORT" -d "$DATABASE" --format=custom --file="$OUT"
result "$OUT"
"#
    )
}

/// Env: as [`postgres_dump`] but as the superuser (`PGUSER=postgres`, its password
/// file), with `IN`, `OWNER` (the database's owner) and `EXPECTED_SHA256`. The
/// database is dropped (its sessions ended: `WITH (FORCE)`, PostgreSQL 13 and
/// later), created for its owner, and filled from the dump.
pub fn postgres_restore() -> String {
    format!(
        r#"{COMMON}verify "$IN"
PGPASSWORD=$(cat "$PASSWORD_FILE")
export PGPASSWORD
psql -X -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -d postgres \
  -v db="$DATABASE" -v owner="$OWNER" <<'SQL'
DROP DATABASE IF EXISTS :"db" WITH (FORCE);
CREATE DATABASE :"db" OWNER :"owner";
SQL
pg_restore -h "$HOST" -p "$PORT" -d "$DATABASE" --exit-on-error "$IN"
echo "restored $DATABASE from $(basename "$IN")"
"#
    )
}

/// Env: `HOST`, `PORT`, `REDIS_PASSWORD_FILE`, `OUT` (the `.rdb`). The password
/// reaches `redis-cli` by `REDISCLI_AUTH`, never an argument.
pub fn redis_dump() -> String {
    format!(
        r#"{COMMON}out_dir "$OUT"
REDISCLI_AUTH=$(cat "$REDIS_PASSWORD_FILE")
export REDISCLI_AUTH
redis-cli -h "$HOST" -p "$PORT" --no-auth-warning --rdb "$OUT" >&2
result "$OUT"
"#
    )
}
