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
//!   `requirepass` default user) and writes the RDB it sends; the restore runs
//!   the image's `redis-server` on the copy and `MIGRATE`s its keys (Redis ≥
//!   4.0.7 for `KEYS` with `AUTH`).
//! - `clickhouse/clickhouse-server:24.8` (ClickHouse/docker-library
//!   `server/24.8.14.39/Dockerfile.ubuntu`): `FROM ubuntu:20.04`, whose base has
//!   dash, tar, gzip and coreutils (`df`, `sha256sum`). `clickhouse-client` takes
//!   `user`, `password`, `host` and `port` from `--config-file`
//!   (`src/Client/ConnectionParameters.cpp`: `config.getString("password", "")`);
//!   `SHOW CREATE … FORMAT TSVRaw` gives a statement unescaped, `Native` is the
//!   client's own block format both ways; `system.parts.bytes_on_disk` sizes the
//!   active parts; `DROP … SYNC` drops without the Atomic engine's delay
//!   (`docs/en/sql-reference/statements/drop.md`); `SYSTEM SYNC REPLICA` waits
//!   until a replica has fetched what its queue holds
//!   (`docs/en/sql-reference/statements/system.md`).
//!
//! - An SQLite file (Grafana's `grafana.db`) is copied as files, with `tar`,
//!   `gzip` and `head`, in BusyBox and GNU alike; its first 16 bytes are "SQLite
//!   format 3\0" and a rollback journal or write-ahead log beside it is
//!   `<file>-journal` or `<file>-wal` (sqlite.org, "Database File Format" §1.3
//!   and "Temporary Files Used By SQLite" §2.1, §2.2).
//!
//! - `docker.elastic.co/elasticsearch/elasticsearch:8.19.2` (elastic/dockerfiles
//!   at 2ed23b0, `elasticsearch/Dockerfile`): `FROM ubuntu:24.04` with `curl`
//!   installed (`apt-get install -y --no-install-recommends ca-certificates curl
//!   …`); tar, gzip, mawk and coreutils come with the base. The snapshot calls
//!   follow the 8.19 API specification (elastic/elasticsearch-specification,
//!   branch 8.19: `snapshot/create_repository`, whose `verify` defaults to true;
//!   `snapshot/create`, whose `include_global_state` defaults to true and takes
//!   every feature state with it; `snapshot/restore`, whose `include_global_state`
//!   defaults to false and restores no feature state unless named) and the
//!   "Restore a snapshot" docs ("You can't restore an existing open index. This
//!   includes backing indices for a data stream"; "Restoring the `security`
//!   feature state overwrites system indices used for authentication").
//!
//! Tested for real in `tests/backup_scripts.rs` against Debian's MariaDB,
//! PostgreSQL, Redis and ClickHouse (18.16: far older than the image's, so that
//! backup stays experimental; its shards of replicas with Debian's ZooKeeper
//! where the image has its Keeper), and SQLite 3: rows written, backed up, dropped,
//! restored, compared. Elasticsearch's scripts only against a stand-in of its
//! API (it is not in Debian): experimental.

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

/// `room DIR`: the bytes a backup may still write in `DIR`: what `df` says is
/// free there, or less when the Job gives the scratch directory's size limit
/// (`$ROOM` bytes for `$SCRATCH`: an `emptyDir.sizeLimit` is not what `df` sees).
const ROOM: &str = r#"room() {
  free=$(df -Pk "$1" | awk 'NR == 2 { print $4 * 1024 }')
  if [ -n "${ROOM:-}" ]; then
    used=$(du -sk "$SCRATCH" | awk '{ print $1 * 1024 }')
    if [ "$((ROOM - used))" -lt "$free" ]; then free=$((ROOM - used)); fi
  fi
  echo "$free"
}
# `fits NEED FREE PLACE WHY MORE`: refused, naming what to give more room,
# unless NEED bytes fit in FREE.
fits() {
  [ "$1" -le "$2" ] || {
    echo "not enough space $3: about $1 bytes needed ($4), $2 free; give $5" >&2
    exit 1
  }
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

/// Env: as [`redis_dump`], with `IN` (the `.rdb`), `EXPECTED_SHA256` and
/// optionally `SOURCE_PORT` (default 6390). The running server is emptied
/// (`FLUSHALL`) and filled from the backup without touching its volume: a
/// server of the image's own version, started in the Job on loopback only and
/// saving nothing, loads the RDB, and `MIGRATE … COPY REPLACE` sends every key
/// of every database to the running one, TTLs kept, in batches. The running
/// server logs all of it to its append-only file as any write, so the restore
/// outlives a restart (it loads that file, never a `dump.rdb`, at start). Each
/// database's key count is compared at the end. The password travels in the
/// commands redis-cli reads from a file, never in an argument.
pub fn redis_restore() -> String {
    format!(
        r#"{COMMON}verify "$IN"
pw=$(cat "$REDIS_PASSWORD_FILE")
work="${{TMPDIR:-/tmp}}/redis-restore"
mkdir -p "$work"
cp "$IN" "$work/dump.rdb"
port=${{SOURCE_PORT:-6390}}
redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --dbfilename dump.rdb \
  --save '' --appendonly no --logfile "$work/server.log" &
server=$!
# The server is stopped and waited for before its directory goes (it writes its
# log as it stops); tidying up never fails the restore.
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work" || true' EXIT
src() {{ redis-cli -h 127.0.0.1 -p "$port" "$@"; }}
dst() {{ REDISCLI_AUTH="$pw" redis-cli -h "$HOST" -p "$PORT" --no-auth-warning "$@"; }}
# redis-cli's quoting, for a value in a command read from a file.
q() {{ printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; }}
tries=0
until [ "$(src PING 2>/dev/null)" = PONG ]; do
  tries=$((tries + 1))
  if [ "$tries" -gt 120 ]; then
    echo "the backup's RDB did not load:" >&2
    tail -n 5 "$work/server.log" >&2
    exit 1
  fi
  sleep 1
done
[ "$(dst PING)" = PONG ] || {{ echo "Redis at $HOST:$PORT does not answer" >&2; exit 1; }}
[ "$(dst FLUSHALL)" = OK ] || {{ echo "FLUSHALL refused by $HOST:$PORT" >&2; exit 1; }}
migrate() {{
  db=$1
  shift
  {{
    printf 'MIGRATE %s %s "" %s 60000 COPY REPLACE AUTH %s KEYS' "$(q "$HOST")" "$PORT" "$db" "$(q "$pw")"
    for k in "$@"; do printf ' %s' "$(q "$k")"; done
    printf '\n'
  }} > "$work/command"
  reply=$(src -n "$db" < "$work/command")
  rm -f "$work/command"
  case "$reply" in
    OK|NOKEY) ;;
    *) echo "MIGRATE to $HOST:$PORT failed: $reply" >&2; exit 1 ;;
  esac
}}
total=0
for db in $(src INFO keyspace | sed -n 's/^db\([0-9]*\):.*/\1/p'); do
  src -n "$db" --scan > "$work/keys"
  set --
  while IFS= read -r key; do
    set -- "$@" "$key"
    if [ "$#" -ge 100 ]; then migrate "$db" "$@"; set --; fi
  done < "$work/keys"
  if [ "$#" -gt 0 ]; then migrate "$db" "$@"; fi
  want=$(src -n "$db" DBSIZE)
  got=$(dst -n "$db" DBSIZE)
  if [ "$want" != "$got" ]; then
    echo "database $db: the backup holds $want keys, Redis has $got after the restore" >&2
    exit 1
  fi
  total=$((total + want))
done
echo "restored $total keys from $(basename "$IN")"
"#
    )
}

/// ClickHouse's client options in a file only this script reads (the password
/// never in an argument), XML-escaped. Every query goes through `ch` (an
/// INSERT's rows through `ch_in`), to the server `at` chose last. `NODES`: the servers, `host:port` each, in the
/// StatefulSet's order; `REPLICAS`: how many of them hold each shard (server `k`
/// is replica `k % REPLICAS` of shard `k / REPLICAS`, as `remote_servers` lists
/// them). One server: `NODES` is its Service.
const CLICKHOUSE_OPTIONS: &str = r#"options="${TMPDIR:-/tmp}/backup-client.xml"
xesc() { printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'; }
pw=$(cat "$CLICKHOUSE_PASSWORD_FILE")
printf '<config>\n<user>%s</user>\n<password>%s</password>\n</config>\n' \
  "$(xesc "$CLICKHOUSE_USER")" "$(xesc "$pw")" > "$options"
at() { h=${1%:*}; p=${1##*:}; }
# Stdin is the rows of an INSERT (`ch_in`) and nothing else's: the loops that
# query read their lists from it.
ch_in() { clickhouse-client --config-file="$options" --host="$h" --port="$p" "$@"; }
ch() { ch_in "$@" < /dev/null; }
# An identifier, backquoted; a string, quoted.
q() { printf '`%s`' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/`/\\`/g')"; }
lit() { printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")"; }
tab=$(printf '\t')
system="'system','INFORMATION_SCHEMA','information_schema'"
servers=$(set -- $NODES; echo $#)
# `sync_replica db.table`: waits, however long a whole shard takes to fetch
# (the client gives up after `receive_timeout`, 300 s by default), until the
# replica has fetched what its queue holds: `LIGHTWEIGHT` waits for fetches
# only, not merges; a server too old for the word waits for the whole queue.
sync_replica() {
  ch --receive_timeout=86400 --query "SYSTEM SYNC REPLICA $1 LIGHTWEIGHT" 2> "$work/error" && return 0
  grep -q 'Syntax error' "$work/error" || {
    cat "$work/error" >&2
    exit 1
  }
  ch --receive_timeout=86400 --query "SYSTEM SYNC REPLICA $1"
}
"#;

/// Env: `NODES`, `REPLICAS` (see [`CLICKHOUSE_OPTIONS`]), `CLICKHOUSE_USER`,
/// `CLICKHOUSE_PASSWORD_FILE`, `OUT` (the `.tar` to write). On every server,
/// every database but the system ones, table by table: each table's `SHOW
/// CREATE` statement, and the rows of those that store them (the MergeTree and
/// Log families, Memory) as gzipped `Native` (each table as it was when its
/// `SELECT` began: consistent per table and server, not across them). A
/// replicated table's rows once per Keeper path (`system.replicas`), from the
/// first server holding a replica of it, once that one has fetched what the
/// others took in (`SYSTEM SYNC REPLICA`; the others fetch them back after a
/// restore); any other table's from each server, which holds its own. Refused:
/// a name with a tab or a line break (the lists are raw lines), and a
/// statement whose credentials the server hides (`'[HIDDEN]'`). A materialized view without `TO` has its rows (in its own
/// table, `.inner.<view>`, or `.inner_id.<its UUID>` in an Atomic database:
/// `StorageMaterializedView::generateInnerTableName`) read through it, and
/// written back through it once it is made again. A dictionary (engine
/// `Dictionary`) is a statement only, made again before the views: `SHOW CREATE
/// TABLE` gives a `CREATE DICTIONARY` one's too, as both read the database's
/// own statement (`src/Interpreters/InterpreterShowCreateQuery.cpp`); 18.16
/// predates `CREATE DICTIONARY`, so no test made one. Never a `SELECT` from a
/// Kafka table (it would consume the topic). With more than one
/// server, the statements carry each table's UUID, which a `{uuid}` in a
/// replicated table's Keeper path needs on every replica alike (ClickHouse
/// refuses that macro in a `CREATE` without an explicit UUID or `ON CLUSTER`:
/// `tests/queries/0_stateless/02990_rmt_replica_path_uuid.sql`). First the
/// estimate, the size on disk of the active parts to be read, and the capacity
/// check: twice that (the files, then their archive) must fit where `OUT` goes,
/// within `ROOM` bytes of directory `SCRATCH` when set (a scratch directory's
/// limit).
pub fn clickhouse_dump() -> String {
    format!(
        r#"{COMMON}{ROOM}out_dir "$OUT"
{CLICKHOUSE_OPTIONS}work="$OUT.d"
rm -rf "$work"
mkdir "$work"
trap 'rm -f "$options"; rm -rf "$work"' EXIT
# A replicated table's rows are read once, on the first server (in NODES'
# order) holding a replica of its Keeper path; the others fetch them back. The
# path, not the shard, says which replicas hold the same rows: a table may be
# missing on a shard's first replica, or replicated across shards.
: > "$work/owners"
k=0
for node in $NODES; do
  at "$node"
  ch --query "SELECT DISTINCT zookeeper_path FROM system.replicas WHERE database NOT IN ($system) FORMAT TSVRaw" > "$work/paths"
  while IFS= read -r path; do
    cut -f 2- "$work/owners" | grep -qxF -- "$path" || printf '%s\t%s\n' "$k" "$path" >> "$work/owners"
  done < "$work/paths"
  k=$((k + 1))
done
# The Keeper paths whose rows server `$1` gives, as a list of SQL strings.
owned() {{
  list="''"
  while IFS="$tab" read -r o path; do
    if [ "$o" = "$1" ]; then list="$list, $(lit "$path")"; fi
  done < "$work/owners"
  echo "$list"
}}
estimate=0
k=0
for node in $NODES; do
  at "$node"
  bytes=$(ch --query "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database NOT IN ($system)
    AND ((database, table) IN (SELECT database, name FROM system.tables WHERE engine NOT LIKE 'Replicated%')
      OR (database, table) IN (SELECT database, table FROM system.replicas WHERE zookeeper_path IN ($(owned $k))))")
  estimate=$((estimate + bytes))
  k=$((k + 1))
done
free=$(room "$work")
echo "ClickHouse: about $estimate bytes on disk to back up; $free bytes free here"
fits "$((estimate * 2))" "$free" "for ClickHouse's backup" "twice the $estimate its tables take on disk" \
  "the backup more room (backup.persistence.size)"
at "${{NODES%% *}}"
uuids=
if [ "$servers" -gt 1 ]; then
  known=$(ch --query "SELECT count() FROM system.settings WHERE name = 'show_table_uuid_in_table_create_query_if_not_nil'")
  [ "$known" = 0 ] || uuids=--show_table_uuid_in_table_create_query_if_not_nil=1
fi
# A materialized view without `TO` keeps its rows in a table of its own,
# `.inner.<view>`, or `.inner_id.<the view's UUID>` in an Atomic database.
inner_id="''"
has_uuid=$(ch --query "SELECT count() FROM system.columns WHERE database = 'system' AND table = 'tables' AND name = 'uuid'")
if [ "$has_uuid" = 1 ]; then
  inner_id="if((database, concat('.inner_id.', toString(uuid))) IN (SELECT database, name FROM system.tables), concat('.inner_id.', toString(uuid)), '')"
fi
printf '%s\t%s\n' "$servers" "$REPLICAS" > "$work/servers"
i=0
n=0
rows=0
k=0
for node in $NODES; do
  at "$node"
  d="$work/$k"
  mkdir "$d"
  # Names are read raw, a line each: one with a tab or a line break in it
  # cannot be, and is refused.
  odd=$(ch --query "SELECT concat(database, '.', name) FROM system.tables WHERE database NOT IN ($system)
    AND (position(database, '\t') OR position(database, '\n') OR position(name, '\t') OR position(name, '\n')) LIMIT 1 FORMAT TSV")
  if [ -n "$odd" ]; then
    printf '%s\n' "ClickHouse's backup cannot name $odd on $h: a tab or a line break in a name" >&2
    exit 1
  fi
  owned=$(owned $k)
  ch --query "SELECT name FROM system.databases WHERE name NOT IN ($system) ORDER BY name FORMAT TSVRaw" > "$d/names"
  : > "$d/databases"
  while IFS= read -r db; do
    i=$((i + 1))
    ch $uuids --query "SHOW CREATE DATABASE $(q "$db") FORMAT TSVRaw" > "$d/db$i.sql"
    printf '%s\t%s\n' "$i" "$db" >> "$d/databases"
  done < "$d/names"
  # Created in this order on restore: the tables that hold rows (filled at
  # once), then what reads or forwards them, materialized views last, so that
  # rows restored into a table never pass through a view a second time; a
  # view's own rows go into it once it is made. The fourth column: 1 when this
  # server's rows are in the archive, r when another's are (a replica fetches
  # them), 0 when it holds none; the sixth: a view's own table.
  ch --query "SELECT database, name,
      multiIf(engine LIKE '%MergeTree' OR engine IN ('Log', 'TinyLog', 'StripeLog', 'Memory'), 1,
              engine = 'MaterializedView', 3, 2) AS stage,
      multiIf(stage != 1, '0', engine NOT LIKE 'Replicated%', '1',
              (database, name) IN (SELECT database, table FROM system.replicas WHERE zookeeper_path IN ($owned)), '1', 'r'),
      engine LIKE 'Replicated%',
      multiIf(engine != 'MaterializedView', '',
              (database, concat('.inner.', name)) IN (SELECT database, name FROM system.tables), concat('.inner.', name),
              $inner_id)
    FROM system.tables
    WHERE database NOT IN ($system) AND NOT is_temporary AND name NOT LIKE '.inner%'
    ORDER BY stage, database, name FORMAT TSVRaw" > "$d/list"
  : > "$d/tables"
  while IFS="$tab" read -r db name stage held replicated inner; do
    n=$((n + 1))
    id="$(q "$db").$(q "$name")"
    ch $uuids --query "SHOW CREATE TABLE $id FORMAT TSVRaw" > "$d/$n.sql"
    # The image's ClickHouse shows credentials in a statement (a dictionary's
    # source, a MySQL table's) only where the server allows it
    # (`display_secrets_in_show_and_select`; `SHOW CREATE` formats through
    # `src/Interpreters/formatWithPossiblyHidingSecrets.h`); made again, it
    # would not work.
    if grep -qF "'[HIDDEN]'" "$d/$n.sql"; then
      printf '%s\n' "ClickHouse hides the credentials in the statement of $db.$name on $h ('[HIDDEN]'): a restore could not make it again; back it up by hand, or allow display_secrets_in_show_and_select" >&2
      exit 1
    fi
    if [ -n "$inner" ]; then
      replicated=$(ch --query "SELECT engine LIKE 'Replicated%' FROM system.tables WHERE database = $(lit "$db") AND name = $(lit "$inner")")
      held=1
      if [ "$replicated" = 1 ]; then
        mine=$(ch --query "SELECT count() FROM system.replicas WHERE database = $(lit "$db") AND table = $(lit "$inner") AND zookeeper_path IN ($owned)")
        [ "$mine" = 1 ] || held=r
      fi
    fi
    if [ "$held" = 1 ]; then
      # What the other replicas took in before now is in this one's rows too.
      [ "$replicated" = 0 ] || sync_replica "$(q "$db").$(q "${{inner:-$name}}")"
      # sh has no pipefail: the client's status is kept aside.
      {{ ch --query "SELECT * FROM $id FORMAT Native"; echo $? > "$work/status"; }} | gzip -n > "$d/$n.native.gz"
      [ "$(cat "$work/status")" = 0 ] || {{ printf '%s\n' "exporting $db.$name from $h failed" >&2; exit 1; }}
      rows=$((rows + 1))
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$stage" "$db" "$name" "$held" "$inner" >> "$d/tables"
  done < "$d/list"
  rm -f "$d/names" "$d/list"
  k=$((k + 1))
done
rm -f "$work/owners" "$work/paths" "$work/error"
rm -f "$work/status"
tar -cf "$OUT" -C "$work" .
if [ "$servers" = 1 ]; then
  echo "ClickHouse: $n tables in $i databases, the rows of $rows"
else
  echo "ClickHouse: $servers servers ($((servers / REPLICAS)) shards of $REPLICAS replicas), $n tables in $i databases, the rows of $rows"
fi
result "$OUT"
"#
    )
}

/// Env: as [`clickhouse_dump`], with `IN` (the `.tar`) and `EXPECTED_SHA256`.
/// Refused unless the servers are as many, in as many replicas a shard, as
/// the backup's. Each database of the backup is dropped on every server first
/// (so that no replica made again finds an old one of its table to fetch from),
/// then made again server by server, its tables from their statements in the
/// dump's order, each table's rows streamed from the archive as they are
/// inserted (no second copy on disk; `insert_deduplicate=0`, so that a block
/// equal to one before is not taken for a retry), and at last each replica
/// waits until it has fetched its shard's rows (`SYSTEM SYNC REPLICA`): the
/// databases are as they were. Databases made since the backup are left alone.
/// A backup of one server taken before there were servers in it (its files at
/// the top) is that one server's.
pub fn clickhouse_restore() -> String {
    format!(
        r#"{COMMON}verify "$IN"
{CLICKHOUSE_OPTIONS}work="${{TMPDIR:-/tmp}}/clickhouse-restore"
rm -rf "$work"
mkdir "$work"
trap 'rm -f "$options"; rm -rf "$work"' EXIT
tar -xf "$IN" -C "$work" --exclude='*.native.gz'
if [ -e "$work/servers" ]; then
  IFS="$tab" read -r had replicas < "$work/servers"
  nested=1
else
  had=1
  replicas=1
  nested=
fi
if [ "$had" != "$servers" ] || [ "$replicas" != "$REPLICAS" ]; then
  echo "refusing to restore $(basename "$IN"): it holds $((had / replicas)) ClickHouse shards of $replicas replicas, and the release runs $((servers / REPLICAS)) of $REPLICAS; restore it into a release with clickhouse.shards=$((had / replicas)) and clickhouse.replicas=$replicas" >&2
  exit 1
fi
# Server k's files, and their path in the archive.
dir() {{ if [ -n "$nested" ]; then echo "$work/$1"; else echo "$work"; fi; }}
member() {{ if [ -n "$nested" ]; then echo "./$1/$2"; else echo "./$2"; fi; }}
# `SYNC` frees the disk before the rows come back (an Atomic database, the
# default since ClickHouse 20.10, would otherwise keep the dropped tables' data
# for minutes, and their UUIDs, which the statements name again); a server too
# old for the word drops at once anyway.
# `drop DATABASE|TABLE identifier`.
drop() {{
  ch --query "DROP $1 IF EXISTS $2 SYNC" 2> "$work/error" && return 0
  grep -q 'Syntax error' "$work/error" || {{
    cat "$work/error" >&2
    exit 1
  }}
  ch --query "DROP $1 IF EXISTS $2"
}}
k=0
for node in $NODES; do
  at "$node"
  d=$(dir $k)
  while IFS="$tab" read -r i db; do
    if [ "$db" = default ]; then
      # The server's own, every session's database when it names none: kept,
      # emptied.
      ch --query "SELECT name FROM system.tables WHERE database = 'default' AND NOT is_temporary FORMAT TSVRaw" > "$work/names"
      while IFS= read -r name; do drop TABLE "$(q default).$(q "$name")"; done < "$work/names"
    else
      drop DATABASE "$(q "$db")"
    fi
  done < "$d/databases"
  k=$((k + 1))
done
n=0
k=0
for node in $NODES; do
  at "$node"
  d=$(dir $k)
  while IFS="$tab" read -r i db; do
    [ "$db" = default ] || ch --query "$(cat "$d/db$i.sql")"
  done < "$d/databases"
  # What reads another table or view (stages 2 and 3) may come before it by
  # name: refused for now, it is made in a later pass, until a pass makes none.
  cp "$d/tables" "$work/pending"
  while [ -s "$work/pending" ]; do
    : > "$work/later"
    made=
    while IFS="$tab" read -r t stage db name held inner; do
      if ! ch --query "$(cat "$d/$t.sql")" 2> "$work/error"; then
        [ "$stage" != 1 ] || {{ cat "$work/error" >&2; exit 1; }}
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$stage" "$db" "$name" "$held" "$inner" >> "$work/later"
        continue
      fi
      made=1
      n=$((n + 1))
      # A backup taken before the fifth column: a table of stage 1 holds rows.
      [ "${{held:-$stage}}" = 1 ] || continue
      {{ tar -xOf "$IN" "$(member $k "$t.native.gz")" || echo tar > "$work/failed"; }} |
        {{ gzip -d || echo gzip > "$work/failed"; }} |
        ch_in --insert_deduplicate=0 --query "INSERT INTO $(q "$db").$(q "$name") FORMAT Native"
      [ ! -e "$work/failed" ] || {{ printf '%s\n' "reading $db.$name from $(basename "$IN") failed" >&2; exit 1; }}
    done < "$work/pending"
    [ -n "$made" ] || [ ! -s "$work/later" ] || {{ cat "$work/error" >&2; exit 1; }}
    mv "$work/later" "$work/pending"
  done
  k=$((k + 1))
done
k=0
for node in $NODES; do
  at "$node"
  while IFS="$tab" read -r t stage db name held inner; do
    [ "$held" != r ] || sync_replica "$(q "$db").$(q "${{inner:-$name}}")"
  done < "$(dir $k)/tables"
  k=$((k + 1))
done
echo "restored $n ClickHouse tables from $(basename "$IN")"
"#
    )
}

/// Env: `DATA` (the component's volume, mounted read-only while it is stopped),
/// `DB` (the SQLite file's name in it), `OUT` (a `.tar.gz`). The file is copied
/// as it is on disk, with the rollback journal or write-ahead log a writer that
/// did not stop cleanly left beside it: they hold what the file alone lacks, and
/// SQLite rolls them back or in when it next opens the file.
pub fn sqlite_dump() -> String {
    format!(
        r#"{COMMON}out_dir "$OUT"
db="$DATA/$DB"
if [ ! -f "$db" ]; then
  echo "there is no $db to back up (has the component never started?)" >&2
  exit 1
fi
if [ "$(head -c 15 "$db")" != "SQLite format 3" ]; then
  echo "$db is not an SQLite database" >&2
  exit 1
fi
set -- "$DB"
for f in "$DB-journal" "$DB-wal"; do
  if [ -f "$DATA/$f" ]; then set -- "$@" "$f"; fi
done
tar -czf "$OUT" -C "$DATA" "$@"
result "$OUT"
"#
    )
}

/// Env: `DATA` (the component's volume, mounted read-write while it is stopped),
/// `DB`, `DATA_GROUP` (the group the component reads its files as), `IN` (the
/// `.tar.gz`) and `EXPECTED_SHA256`. The backup's files are unpacked beside the
/// database, on its own volume, then renamed over it; the current file's
/// journal, log and shared memory go first (SQLite would apply them to the
/// restored file). The files are the group's, group-writable, whoever wrote them.
/// A backup with a journal is two renames, not one: a Job killed between them
/// leaves the backup's journal beside the old file, which the restore's safety
/// backup brings back.
pub fn sqlite_restore() -> String {
    format!(
        r#"{COMMON}verify "$IN"
work="$DATA/.stackctl-restore"
rm -rf "$work"
mkdir "$work"
trap 'rm -rf "$work" || true' EXIT
tar -xzf "$IN" -C "$work"
if [ ! -f "$work/$DB" ] || [ "$(head -c 15 "$work/$DB")" != "SQLite format 3" ]; then
  echo "$(basename "$IN") holds no SQLite database $DB" >&2
  exit 1
fi
for f in "$work"/*; do
  chgrp "$DATA_GROUP" "$f"
  chmod 660 "$f"
done
rm -f "$DATA/$DB-journal" "$DATA/$DB-wal" "$DATA/$DB-shm"
for f in "$DB-journal" "$DB-wal"; do
  if [ -f "$work/$f" ]; then mv "$work/$f" "$DATA/$f"; fi
done
mv "$work/$DB" "$DATA/$DB"
echo "restored $DB from $(basename "$IN")"
"#
    )
}

/// Env: `DATA` (the component's volume, mounted read-only while it is stopped),
/// `WHAT` (its name, for messages), `OUT` (a `.tar.gz`), and `ROOM`/`SCRATCH`
/// when the backup goes through a scratch directory. Everything on the volume but
/// the filesystem's `lost+found`, after an estimate (what `du` counts) and a
/// check that it fits where the backup goes, a tenth to spare (the files of a
/// time-series database are compressed already: gzip gains little).
pub fn volume_dump() -> String {
    format!(
        r#"{COMMON}{ROOM}out_dir "$OUT"
estimate=$(du -sk "$DATA" | awk '{{ print $1 * 1024 }}')
free=$(room "$(dirname "$OUT")")
echo "$WHAT: about $estimate bytes on its volume to back up; $free bytes free here"
fits "$((estimate + estimate / 10))" "$free" "for the backup of $WHAT" "$estimate on its volume, and a tenth" \
  "the backup more room (backup.persistence.size)"
{PACK}result "$OUT"
"#
    )
}

/// `$DATA`'s files (`lost+found` left out) into the `.tar.gz` `$OUT`.
const PACK: &str = r#"cd "$DATA"
set --
for f in * .[!.]*; do
  if [ -e "$f" ] && [ "$f" != lost+found ]; then set -- "$@" "$f"; fi
done
if [ "$#" -eq 0 ]; then
  echo "$WHAT's volume ($DATA) is empty: nothing to back up" >&2
  exit 1
fi
tar -czf "$OUT" "$@"
cd /
"#;

/// Env: `DATA` (the component's volume, mounted read-write while it is
/// stopped), `WHAT`, `DATA_GROUP` (the group the component writes its files
/// as), `IN` (the `.tar.gz`) and `EXPECTED_SHA256`. The volume ends holding the
/// backup's files and nothing else (`lost+found` stays), the group's and
/// group-writable. Unpacked beside the current files first when the volume has
/// room for both; otherwise the current files go first (the restore's safety
/// backup holds them); refused, before anything changes, when the backup would
/// not fit even then.
pub fn volume_restore() -> String {
    format!(
        r#"{COMMON}verify "$IN"
{UNPACK}echo "restored $WHAT's volume from $(basename "$IN")"
"#
    )
}

/// `$IN`'s files in place of `$DATA`'s, as [`volume_restore`] says.
const UNPACK: &str = r#"# Each file takes whole blocks, each directory one: counted as 4 KiB ones.
need=$(tar -tvzf "$IN" | awk '{ s += int(($3 + 4095) / 4096) * 4096; if ($1 ~ /^d/) s += 4096 } END { print s + 0 }')
free=$(df -Pk "$DATA" | awk 'NR == 2 { print $4 * 1024 }')
used=$(du -sk "$DATA" | awk '{ print $1 * 1024 }')
work="$DATA/.stackctl-restore"
trap 'rm -rf "$work" || true' EXIT
clear() {
  for f in "$DATA"/* "$DATA"/.[!.]*; do
    case "$(basename "$f")" in
      lost+found|.stackctl-restore) ;;
      *) if [ -e "$f" ]; then rm -rf "$f"; fi ;;
    esac
  done
}
if [ "$need" -gt "$((free + used))" ]; then
  echo "$WHAT's volume is too small for this backup: $need bytes to unpack, $((free + used)) there even when emptied" >&2
  exit 1
fi
rm -rf "$work"
if [ "$need" -gt "$free" ]; then
  echo "$WHAT: no room for the backup beside the current files; removing them first"
  clear
fi
mkdir "$work"
tar -xzf "$IN" -C "$work"
chgrp -R "$DATA_GROUP" "$work"
chmod -R g+rwX "$work"
clear
for f in "$work"/* "$work"/.[!.]*; do
  if [ -e "$f" ]; then mv "$f" "$DATA"/; fi
done
rmdir "$work"
"#;

/// Elasticsearch's REST API as the `elastic` user, its password on a curl
/// config file only this script reads (`-K`; in a quoted value `\` escapes and
/// `"` ends it): `api METHOD PATH [curl args]` prints the body; on an HTTP
/// error it fails, saying the request, the status and Elasticsearch's answer on
/// stderr. Env: `URL`, `PASSWORD_FILE`.
const ES_API: &str = r#"config="${TMPDIR:-/tmp}/backup-curl.cfg"
answer="${TMPDIR:-/tmp}/backup-curl.out"
esc() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }
printf 'user = "elastic:%s"\n' "$(esc "$(cat "$PASSWORD_FILE")")" > "$config"
api() {
  method=$1 path=$2
  shift 2
  code=$(curl -sS -o "$answer" -w '%{http_code}' -K "$config" -X "$method" -H 'Content-Type: application/json' "$URL$path" "$@") || return 1
  if [ "$code" -ge 300 ]; then
    echo "$WHAT: $method $path: HTTP $code: $(cat "$answer")" >&2
    return 1
  fi
  cat "$answer"
}
register() {
  api PUT "/_snapshot/$REPOSITORY" -d "{\"type\":\"fs\",\"settings\":{\"location\":\"$DATA\"}}" > /dev/null
}
forget() { api DELETE "/_snapshot/$REPOSITORY" > /dev/null 2>&1 || true; }
drop_snapshot() { api DELETE "/_snapshot/$REPOSITORY/$SNAPSHOT" > /dev/null 2>&1 || true; }
"#;

/// Elasticsearch, by its snapshot API into a shared-filesystem repository on
/// the volume every node mounts at `$DATA` (`path.repo`), which the step
/// mounts too: one snapshot `$SNAPSHOT` of every index and the cluster's state
/// with every feature's (`include_global_state`, the default), the repository
/// then unregistered while it is copied (Elastic's "Back up a repository":
/// "Prevent writes to the repository by unregistering the repository") into the
/// `.tar.gz` `$OUT`, registered again and the snapshot deleted (the copy holds
/// it; the volume keeps room for the next). Size estimate first: the primary
/// shards, against the room in the repository and where the copy goes. Env:
/// `URL`, `PASSWORD_FILE`, `DATA`, `WHAT`, `REPOSITORY`, `SNAPSHOT`, `OUT`.
pub fn elasticsearch_dump() -> String {
    format!(
        r#"{COMMON}{ROOM}{ES_API}out_dir "$OUT"
register
# One snapshot at a time, under one name: one an interrupted run left goes.
drop_snapshot
sizes=$(api GET "/_cat/indices?bytes=b&h=pri.store.size&expand_wildcards=all")
estimate=$(printf '%s\n' "$sizes" | awk '{{ s += $1 }} END {{ print s + 0 }}')
repository=$(df -Pk "$DATA" | awk 'NR == 2 {{ print $4 * 1024 }}')
free=$(room "$(dirname "$OUT")")
echo "$WHAT: about $estimate bytes of primary shards to snapshot; $repository bytes free in the repository, $free where the backup goes"
need=$((estimate + estimate / 10))
fits "$need" "$repository" "in $WHAT's snapshot repository" "$estimate of primary shards, and a tenth" \
  "it more room (elasticsearch.snapshots.persistence.size)"
fits "$need" "$free" "for the backup of $WHAT" "$estimate of primary shards, and a tenth" \
  "the backup more room (backup.persistence.size)"
trap 'register 2> /dev/null || true; drop_snapshot' EXIT
response=$(api PUT "/_snapshot/$REPOSITORY/$SNAPSHOT?wait_for_completion=true" -d '{{"indices":"*","include_global_state":true}}')
case "$response" in
  *'"state":"SUCCESS"'*) ;;
  *) echo "the snapshot of $WHAT did not succeed: $response" >&2; exit 1 ;;
esac
forget
{PACK}register
drop_snapshot
trap - EXIT
result "$OUT"
"#
    )
}

/// Elasticsearch from a backup of [`elasticsearch_dump`]: the repository
/// unregistered, its files replaced by the backup's (as [`volume_restore`]
/// does; Elastic: "you must not register the repository with Elasticsearch
/// until the repository contents are fully restored"), registered again; the
/// snapshot's regular indices and data streams that exist now deleted (a
/// restore refuses an open index of the same name; those made since the
/// backup stay), then restored with every feature state but `security` (its
/// users and passwords stay those of the running cluster, which the release's
/// Secrets hold) and without the cluster's global state (settings, templates,
/// pipelines, lifecycle policies and the license stay as they are). Dot-prefixed
/// names are system or hidden indices: restored with their feature or not at
/// all (`*,-.*`: `*` alone matches the dot-prefixed ones that are no
/// feature's, `SnapshotUtils.filterIndices`, which would then collide). The snapshot is deleted afterwards. Env: those of the dump, `DATA_GROUP`,
/// `IN` and `EXPECTED_SHA256`.
pub fn elasticsearch_restore() -> String {
    format!(
        r#"{COMMON}{ES_API}verify "$IN"
forget
{UNPACK}register
trap 'drop_snapshot' EXIT
info=$(api GET "/_snapshot/$REPOSITORY/$SNAPSHOT")
# The names in the first `"KEY":[…]` of the snapshot's description, but
# dot-prefixed ones.
names() {{
  printf '%s' "$info" | awk -v key="\"$1\":[" '{{
    i = index($0, key); if (!i) exit
    rest = substr($0, i + length(key)); n = split(substr(rest, 1, index(rest, "]") - 1), a, ",")
    for (k = 1; k <= n; k++) {{ gsub(/"/, "", a[k]); if (a[k] != "" && substr(a[k], 1, 1) != ".") print a[k] }}
  }}'
}}
for stream in $(names data_streams); do
  api DELETE "/_data_stream/$stream" > /dev/null 2>&1 || true
done
for index in $(names indices); do
  api DELETE "/$index?ignore_unavailable=true" > /dev/null
done
features=$(printf '%s' "$info" | grep -o '"feature_name":"[^"]*"' | cut -d '"' -f 4 | grep -vx security | sed 's/.*/"&"/' | paste -sd , -) || true
response=$(api POST "/_snapshot/$REPOSITORY/$SNAPSHOT/_restore?wait_for_completion=true" -d "{{\"indices\":\"*,-.*\",\"include_global_state\":false,\"feature_states\":[${{features:-\"none\"}}]}}")
case "$response" in
  *'"failed":0'*) ;;
  *) echo "the restore of $WHAT did not succeed: $response" >&2; exit 1 ;;
esac
echo "restored $WHAT from $(basename "$IN")"
"#
    )
}

/// A scheduled backup's step for a component that must be stopped for its copy
/// (Grafana): run by the CronJob, with no stackctl to stop it, so it scales the
/// StatefulSet to zero through the API itself, waits until its pod is gone,
/// runs the copy (`$COPY`, in a child shell so that nothing it does replaces
/// the trap), and scales it back to `$REPLICAS` however the copy ended (the
/// `EXIT` trap; SIGTERM and SIGINT, a deadline or a deletion, exit through it).
/// The token is the projected one of the release's backup ServiceAccount
/// (`$API_DIR/token`, `$API_DIR/ca.crt`), sent from a curl config file only
/// this script reads. The API server is the pod's `KUBERNETES_SERVICE_HOST`
/// and `_PORT`, which the kubelet sets in every container. `curl` is in
/// Grafana's image (grafana/grafana `Dockerfile`, stored revision 78515af:
/// `apk add --no-cache ca-certificates bash curl tzdata musl-utils`). Env:
/// `COPY`, `WHAT`, `NAMESPACE`, `STATEFULSET`, `POD`, `REPLICAS`,
/// `WAIT_SECONDS`, `API_DIR`, and the copy's.
pub fn stopped_through_api() -> String {
    r#"set -eu
umask 077
config="${TMPDIR:-/tmp}/backup-api.cfg"
answer="${TMPDIR:-/tmp}/backup-api.out"
case "$KUBERNETES_SERVICE_HOST" in
  *:*) server="https://[$KUBERNETES_SERVICE_HOST]:$KUBERNETES_SERVICE_PORT" ;;
  *) server="https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT" ;;
esac
# The token is read at each call: the kubelet renews the projected file.
kube() {
  method=$1 path=$2
  shift 2
  printf 'header = "Authorization: Bearer %s"\n' "$(cat "$API_DIR/token")" > "$config"
  curl -sS -o "$answer" -w '%{http_code}' -K "$config" --cacert "$API_DIR/ca.crt" -X "$method" "$server$path" "$@"
}
scale() {
  code=$(kube PATCH "/apis/apps/v1/namespaces/$NAMESPACE/statefulsets/$STATEFULSET/scale" -H 'Content-Type: application/merge-patch+json' -d "{\"spec\":{\"replicas\":$1}}") || code=000
  if [ "$code" != 200 ]; then
    echo "scaling StatefulSet $STATEFULSET to $1: HTTP $code: $(cat "$answer" 2> /dev/null)" >&2
    return 1
  fi
}
# Back to $REPLICAS however the step ends, a few tries; a step that could not
# bring it back fails, saying so.
touched=0
start_again() {
  rc=$1
  if [ "$touched" = 1 ]; then
    tries=1
    until scale "$REPLICAS"; do
      if [ "$tries" -ge 5 ]; then
        echo "$WHAT is left stopped: scale StatefulSet $STATEFULSET back to $REPLICAS (\`stackctl upgrade\` does)" >&2
        if [ "$rc" = 0 ]; then rc=1; fi
        exit "$rc"
      fi
      tries=$((tries + 1))
      sleep 2
    done
    echo "$WHAT started again ($REPLICAS)"
  fi
  exit "$rc"
}
trap 'start_again $?' EXIT
trap 'exit 143' TERM INT
echo "stopping $WHAT for the copy of its volume: scaling StatefulSet $STATEFULSET to zero"
stopped=$(date +%s)
touched=1
if ! scale 0; then
  # Refused (4xx): nothing changed.
  case "$code" in 4??) touched=0 ;; esac
  exit 1
fi
waited=0
while :; do
  code=$(kube GET "/api/v1/namespaces/$NAMESPACE/pods/$POD") || code=000
  if [ "$code" = 404 ]; then break; fi
  if [ "$code" != 200 ]; then
    echo "reading pod $POD: HTTP $code: $(cat "$answer" 2> /dev/null)" >&2
    exit 1
  fi
  if [ "$waited" -ge "$WAIT_SECONDS" ]; then
    echo "pod $POD of $WHAT is still there after ${WAIT_SECONDS}s: not copying a volume it may still write" >&2
    exit 1
  fi
  sleep 1
  waited=$((waited + 1))
done
sh -c "$COPY"
echo "$WHAT was stopped for $(($(date +%s) - stopped))s"
"#
    .to_string()
}

/// A scheduled backup's first step: its name, from the clock when it runs (a
/// CronJob's Job cannot be given one), as a directory marked `.scheduled` (which
/// retention may delete; a backup taken on demand is never), written to
/// `$NAME_FILE` for the steps after it and to `$RESULT_FILE`. Env: `ROOT` (the
/// volume), `NAME_FILE`, `RESULT_FILE`. `mkdir` fails on a name taken in the same
/// second, rather than mix two backups.
pub fn scheduled_name() -> String {
    r#"set -eu
umask 077
name=$(date -u +%Y%m%d-%H%M%S)
mkdir "$ROOT/$name"
: > "$ROOT/$name/.scheduled"
printf '%s' "$name" > "$NAME_FILE"
if [ -n "${RESULT_FILE:-}" ]; then printf '%s' "$name" > "$RESULT_FILE"; fi
echo "backup $name"
"#
    .to_string()
}

/// A component's dump within a scheduled backup: `OUT` from the name the first
/// step chose (`$NAME_FILE`) and the component's `$FILE`.
pub fn scheduled(dump: &str) -> String {
    format!("OUT=\"$ROOT/$(cat \"$NAME_FILE\")/$FILE\"\nexport OUT\n{dump}")
}

/// A scheduled backup's last step, once every dump succeeded: marks it
/// `.complete` and deletes the scheduled backups beyond the newest `$KEEP`
/// complete ones (and any incomplete one before it: a failed run's leftovers).
/// Names are UTC timestamps, so `ls -r` lists the newest first. Env: `ROOT`,
/// `NAME_FILE`, `KEEP`.
pub fn keep_newest() -> String {
    r#"set -eu
name=$(cat "$NAME_FILE")
: > "$ROOT/$name/.complete"
kept=0
for d in $(ls -1r "$ROOT"); do
  [ -f "$ROOT/$d/.scheduled" ] || continue
  if [ -f "$ROOT/$d/.complete" ] && [ "$kept" -lt "$KEEP" ]; then
    kept=$((kept + 1))
    continue
  fi
  rm -rf -- "${ROOT:?}/$d"
  echo "deleted scheduled backup $d (keeping the newest $KEEP)"
done
ls -ln "$ROOT/$name"
"#
    .to_string()
}

/// Shared by the S3 steps, run in the curl image (`curlimages/curl`: Alpine,
/// BusyBox `sh`, `sed`, `awk`, `tr`). Each request is signed by curl itself
/// (`--aws-sigv4`, curl ≥ 7.75); the keys reach it in a config file only this
/// script reads, never an argument. The payload hash is always given as a header:
/// curl before 8.0 would sign a body it streams with the empty string's hash
/// (curl/curl `lib/http_aws_sigv4.c`, "fall back to UNSIGNED-PAYLOAD for
/// sign_as_s3", first in 8.0.0). Env: `S3_URL` (the bucket's), `S3_REGION`,
/// `S3_CREDENTIALS` (a directory with `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY`), `S3_SSE` (optional: `x-amz-server-side-encryption`).
const S3_COMMON: &str = r#"set -eu
umask 077
cfg="${TMPDIR:-/tmp}/s3.curlrc"
page="${TMPDIR:-/tmp}/s3.page"
trap 'rm -f "$cfg" "$page"' EXIT
cfgq() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }
printf 'user = "%s:%s"\naws-sigv4 = "aws:amz:%s:s3"\n' \
  "$(cfgq "$(cat "$S3_CREDENTIALS/AWS_ACCESS_KEY_ID")")" \
  "$(cfgq "$(cat "$S3_CREDENTIALS/AWS_SECRET_ACCESS_KEY")")" \
  "$(cfgq "$S3_REGION")" > "$cfg"
EMPTY=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
# One signed request; on an error S3's own answer goes to stderr.
req() {
  if ! curl -q --config "$cfg" -sS --fail-with-body --retry 3 -o "$page" "$@"; then
    cat "$page" >&2 2>/dev/null || true
    echo >&2
    return 1
  fi
}
put() {
  if [ -n "${S3_SSE:-}" ]; then
    req -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
      -H "x-amz-server-side-encryption: $S3_SSE" -T "$1" "$S3_URL/$2"
  else
    req -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$1" "$S3_URL/$2"
  fi
}
get() { req -H "x-amz-content-sha256: $EMPTY" "$S3_URL/$1" && mv "$page" "$2"; }
del() { req -H "x-amz-content-sha256: $EMPTY" -X DELETE "$S3_URL/$1"; }
# A query value, encoded as Signature V4 signs it (prefixes hold only
# [A-Za-z0-9._/-]; continuation tokens are base64).
enc() { printf '%s' "$1" | sed -e 's/%/%25/g' -e 's/+/%2B/g' -e 's,/,%2F,g' -e 's/=/%3D/g'; }
# `list PREFIX keys`: every key under PREFIX; `list PREFIX dirs`: the
# "directories" right under it (CommonPrefixes), page by page (ListObjectsV2;
# the query's parameters in the order they are signed).
list() {
  token=
  while :; do
    q="list-type=2&prefix=$(enc "$1")"
    if [ "$2" = dirs ]; then q="delimiter=%2F&$q"; fi
    if [ -n "$token" ]; then q="continuation-token=$(enc "$token")&$q"; fi
    req -H "x-amz-content-sha256: $EMPTY" "$S3_URL/?$q"
    if [ "$2" = dirs ]; then
      tr '<' '\n' < "$page" | sed -n 's/^Prefix>//p' | awk -v p="$1" '$0 != p'
    else
      tr '<' '\n' < "$page" | sed -n 's/^Key>//p'
    fi
    tr '<' '\n' < "$page" | grep -q '^IsTruncated>true' || break
    token=$(tr '<' '\n' < "$page" | sed -n 's/^NextContinuationToken>//p')
  done
}
# `upload DIR KEY`: every file of DIR, then what a restore without the backup's
# record reads: `SHA256SUMS` (for `sha256sum -c` by hand too) and
# `stackctl.json` (`$BACKUP_META`, what stackctl knew when it made the Job, and
# each file's size and checksum); `.complete` last, so a backup without it never
# finished uploading. Sets `n`, the number of files.
upload() {
  n=0
  meta="${TMPDIR:-/tmp}/stackctl.json"
  sums="${TMPDIR:-/tmp}/SHA256SUMS"
  files=
  : > "$sums"
  for f in "$1"/* "$1"/.[!.]*; do
    [ -f "$f" ] || continue
    b=$(basename "$f")
    case "$b" in .complete|SHA256SUMS|stackctl.json) continue ;; esac
    put "$f" "$2$b"
    case "$b" in .*) continue ;; esac
    sum=$(sha256sum "$f" | cut -d ' ' -f 1)
    printf '%s  %s\n' "$sum" "$b" >> "$sums"
    bytes=$(wc -c < "$f" | tr -d ' ')
    files="$files${files:+,}$(printf '{"file":"%s","bytes":%s,"sha256":"%s"}' "$b" "$bytes" "$sum")"
    n=$((n + 1))
  done
  put "$sums" "${2}SHA256SUMS"
  printf '{"backup":%s,"files":[%s]}' "${BACKUP_META:-"{}"}" "$files" > "$meta"
  put "$meta" "${2}stackctl.json"
  : > "${TMPDIR:-/tmp}/.complete"
  put "${TMPDIR:-/tmp}/.complete" "$2.complete"
}
"#;

/// The last step of a backup to S3: every file of the backup's directory `$DIR`
/// goes to `$KEY` (the backup's prefix, ending in `/`) with its manifest, then an
/// empty `.complete` (see `upload` in [`S3_COMMON`]). Env: as [`S3_COMMON`], with
/// `DIR`, `KEY` and `BACKUP_META`.
pub fn s3_upload() -> String {
    format!(
        r#"{S3_COMMON}upload "$DIR" "$KEY"
echo "uploaded $n files to $S3_URL/$KEY"
"#
    )
}

/// What a restore reads of a backup in S3 whose record is gone (another cluster,
/// another namespace): its `stackctl.json`, once `.complete` says it is whole,
/// as the step's result (its termination message). Env: as [`S3_COMMON`], with
/// `KEY` and `RESULT_FILE`.
pub fn s3_manifest() -> String {
    format!(
        r#"{S3_COMMON}[ -n "$(list "$KEY.complete" keys)" ] || {{
  echo "no complete backup at $S3_URL/$KEY" >&2
  exit 1
}}
get "${{KEY}}stackctl.json" "${{TMPDIR:-/tmp}}/stackctl.json"
cat "${{TMPDIR:-/tmp}}/stackctl.json"
if [ -n "${{RESULT_FILE:-}}" ]; then cat "${{TMPDIR:-/tmp}}/stackctl.json" > "$RESULT_FILE"; fi
"#
    )
}

/// A restore's first step: the backup's `$FILES` (space-separated) from `$KEY`
/// into `$DIR`, where the restore steps check each against its checksum.
pub fn s3_download() -> String {
    format!(
        r#"{S3_COMMON}mkdir -p "$DIR"
[ -n "$(list "$KEY.complete" keys)" ] || {{
  echo "$S3_URL/$KEY is not a complete backup (no $KEY.complete)" >&2
  exit 1
}}
for f in $FILES; do
  get "$KEY$f" "$DIR/$f"
done
echo "downloaded $FILES from $S3_URL/$KEY"
"#
    )
}

/// Deletes every object under `$KEY` (a backup's prefix, or a release's).
pub fn s3_delete() -> String {
    format!(
        r#"{S3_COMMON}list "$KEY" keys > "${{TMPDIR:-/tmp}}/s3.keys"
n=0
while IFS= read -r k; do
  del "$k"
  n=$((n + 1))
done < "${{TMPDIR:-/tmp}}/s3.keys"
echo "deleted $n objects under $S3_URL/$KEY"
"#
    )
}

/// A scheduled backup's last step on S3: [`s3_upload`] of the backup named in
/// `$NAME_FILE` from `$ROOT/<name>` to `$KEY<name>/`, then [`keep_newest`]'s
/// rule on the release's prefix `$KEY`: the newest `$KEEP` complete scheduled
/// backups stay, older and unfinished scheduled ones go, backups on demand
/// (no `.scheduled`) are never touched.
pub fn s3_keep_newest() -> String {
    format!(
        r#"{S3_COMMON}name=$(cat "$NAME_FILE")
BACKUP_META=$(printf '%s' "${{BACKUP_META:-"{{}}"}}" | sed "s/@NAME@/$name/")
upload "$ROOT/$name" "$KEY$name/"
echo "uploaded $name to $S3_URL/$KEY$name/"
work="${{TMPDIR:-/tmp}}/s3.keep"
list "$KEY" dirs | sort -r > "$work.dirs"
kept=0
while IFS= read -r d; do
  list "$d" keys > "$work.keys"
  grep -qx -F "$d.scheduled" "$work.keys" || continue
  if grep -qx -F "$d.complete" "$work.keys" && [ "$kept" -lt "$KEEP" ]; then
    kept=$((kept + 1))
    continue
  fi
  while IFS= read -r k; do del "$k"; done < "$work.keys"
  echo "deleted scheduled backup $(basename "$d") (keeping the newest $KEEP)"
done < "$work.dirs"
rm -f "$work.dirs" "$work.keys"
"#
    )
}

/// The S3 helpers alone (`list`, `del`, …), for tests that inspect a bucket as
/// the steps see it.
#[doc(hidden)]
pub fn s3_common_for_tests() -> String {
    S3_COMMON.to_string()
}
