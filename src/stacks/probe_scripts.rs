//! The checks the probe Jobs run, as POSIX `sh -c` scripts.
//!
//! Shared rules:
//! - every input comes from an environment variable; credentials arrive through
//!   `secretKeyRef` env and are handed to the client through its environment, an
//!   option file or stdin — never through an argument, which `ps` (and the pod spec)
//!   would show;
//! - a check passes only on the expected *answer*, not on the client's exit status:
//!   `mysqladmin ping` exits 0 on "Access denied" and `redis-cli` exits 0 on NOAUTH;
//! - the last line on stdout summarises what was proven; on failure, stderr says why;
//! - exit 1 is "the service answered wrongly or not at all", exit 2 "the probe image
//!   lacks what the script needs" (a configuration problem of the probe itself).
//!
//! A component the stacks share keeps its script next to it (Redis:
//! `kit::redis::PROBE_SCRIPT`), following the same rules.
//!
//! `tests/probe_commands.rs` runs these very strings against real servers (MariaDB,
//! Redis) and protocol fakes (ClickHouse HTTP, ZooKeeper, plain HTTP).

/// Shell that finds a MySQL client (`$client`: MySQL's `mysql` or MariaDB's, whose
/// newer images ship only `mariadb`) and writes `$MYSQL_PASSWORD` into a private
/// option file, `$dir/my.cnf`, removed on exit. In option files a backslash
/// escapes, and a `"` or `#` outside quotes ends the value, so the value is
/// double-quoted with `\` and `"` escaped. `get-server-public-key` (MySQL's client
/// only; MariaDB's warns about it) lets MySQL 8's `caching_sha2_password` log in over
/// a connection without TLS (an external server with TLS off), as the apps' Go driver
/// does. A macro so that scripts stay `&'static str` constants (`concat!`).
macro_rules! mysql_client_setup {
    () => {
        r#"client=$(command -v mysql || command -v mariadb) || { echo "no mysql or mariadb client in this image" >&2; exit 2; }
umask 077
dir=$(mktemp -d) || exit 2
trap 'rm -rf "$dir"' EXIT
escaped=$(printf '%s' "$MYSQL_PASSWORD" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')
printf '[client]\npassword="%s"\n' "$escaped" > "$dir/my.cnf"
case $("$client" --version 2>/dev/null) in
  *MariaDB*) ;;
  *) echo 'get-server-public-key=1' >> "$dir/my.cnf" ;;
esac
"#
    };
}
pub(crate) use mysql_client_setup;

/// MySQL: `SELECT 1` in the app's database as the app's user, over TCP.
///
/// Env: `HOST`, `PORT`, `DATABASE`, `MYSQL_USER`, `MYSQL_PASSWORD`.
///
/// The password goes into a client option file under a private temporary directory
/// (`MYSQL_PWD` would do too, but MySQL deprecated it): see [`mysql_client_setup`].
pub const MYSQL: &str = concat!(
    "set -u\n",
    mysql_client_setup!(),
    r#"out=$("$client" --defaults-extra-file="$dir/my.cnf" --protocol=TCP --connect-timeout=10 \
  -h "$HOST" -P "$PORT" -u "$MYSQL_USER" -D "$DATABASE" -N -B -e 'SELECT 1' 2>"$dir/err")
rc=$?
cat "$dir/err" >&2
if [ "$rc" -ne 0 ]; then
  echo "SELECT 1 as $MYSQL_USER on $HOST:$PORT/$DATABASE failed (client exit status $rc)" >&2
  exit 1
fi
if [ "$out" != 1 ]; then
  echo "SELECT 1 as $MYSQL_USER on $HOST:$PORT/$DATABASE answered: $out" >&2
  exit 1
fi
echo "SELECT 1 as $MYSQL_USER on $HOST:$PORT/$DATABASE: 1"
"#
);

/// ClickHouse: HTTP `/ping`, then `SELECT 1` in the app's database with the app's
/// credentials, then that the native port (the one ClickVisual's DSN uses) is
/// ClickHouse's native protocol.
///
/// Env: `HOST`, `HTTP_PORT`, `NATIVE_PORT`, `DATABASE`, `CLICKHOUSE_USER`,
/// `CLICKHOUSE_PASSWORD`. Needs `curl`.
///
/// The credentials travel as `X-ClickHouse-User`/`X-ClickHouse-Key` headers that curl
/// reads from stdin (`-H @-`), fed by the shell's builtin `printf`: on no command
/// line. The native port is checked without a native client: ClickHouse answers an
/// HTTP request there with "Port … is for clickhouse-client program", which nothing
/// else says.
pub const CLICKHOUSE: &str = r#"set -u
command -v curl >/dev/null || { echo "no curl in this image" >&2; exit 2; }
dir=$(mktemp -d) || exit 2
trap 'rm -rf "$dir"' EXIT
base="http://$HOST:$HTTP_PORT"
ping=$(curl -sS --connect-timeout 5 --max-time 15 "$base/ping") || { echo "GET $base/ping failed" >&2; exit 1; }
if [ "$ping" != "Ok." ]; then
  echo "GET $base/ping answered: $ping" >&2
  exit 1
fi
echo "GET $base/ping: Ok."
code=$(printf 'X-ClickHouse-User: %s\nX-ClickHouse-Key: %s\n' "$CLICKHOUSE_USER" "$CLICKHOUSE_PASSWORD" \
  | curl -sS --connect-timeout 5 --max-time 15 -H @- --data-binary 'SELECT 1' \
      -o "$dir/body" -w '%{http_code}' "$base/?database=$DATABASE") \
  || { echo "POST $base/ failed" >&2; exit 1; }
body=$(head -c 2000 "$dir/body")
if [ "$code" != 200 ] || [ "$body" != 1 ]; then
  echo "SELECT 1 as $CLICKHOUSE_USER in $DATABASE: HTTP $code: $body" >&2
  exit 1
fi
echo "SELECT 1 as $CLICKHOUSE_USER in $DATABASE: 1"
native=$(curl -sS --connect-timeout 5 --max-time 10 "http://$HOST:$NATIVE_PORT/" 2>&1)
case "$native" in
  *clickhouse-client*) echo "port $NATIVE_PORT speaks ClickHouse's native protocol" ;;
  *) echo "port $NATIVE_PORT on $HOST is not ClickHouse's native port: $native" >&2; exit 1 ;;
esac
"#;

/// Kafka: API versions from the bootstrap brokers (every broker in the metadata
/// answers), then the metadata of the topic Fluent Bit writes to.
///
/// Env: `BOOTSTRAP` (comma-separated `host:port`), `TOPIC` (may be empty). The
/// apache/kafka and Bitnami layouts are both on the PATH.
///
/// A missing topic passes: Fluent Bit's first write creates it wherever the brokers
/// allow auto-creation, and until a log line is shipped it need not exist. A topic
/// that exists must have a leader for every partition, or writes to it fail.
pub const KAFKA: &str = r#"set -u
PATH="$PATH:/opt/kafka/bin:/opt/bitnami/kafka/bin"
command -v kafka-broker-api-versions.sh >/dev/null || { echo "no Kafka command-line tools in this image" >&2; exit 2; }
dir=$(mktemp -d) || exit 2
trap 'rm -rf "$dir"' EXIT
printf 'request.timeout.ms=10000\ndefault.api.timeout.ms=30000\n' > "$dir/client.properties"
if ! kafka-broker-api-versions.sh --bootstrap-server "$BOOTSTRAP" --command-config "$dir/client.properties" > "$dir/versions" 2>&1; then
  tail -n 20 "$dir/versions" >&2
  echo "no API versions from $BOOTSTRAP" >&2
  exit 1
fi
brokers=$(grep -c '(id:' "$dir/versions")
if [ "$brokers" -eq 0 ]; then
  tail -n 20 "$dir/versions" >&2
  echo "no broker listed API versions from $BOOTSTRAP" >&2
  exit 1
fi
echo "API versions from $brokers broker(s) via $BOOTSTRAP"
[ -n "${TOPIC:-}" ] || exit 0
if ! kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --command-config "$dir/client.properties" --list > "$dir/topics" 2>&1; then
  tail -n 20 "$dir/topics" >&2
  echo "listing topics via $BOOTSTRAP failed" >&2
  exit 1
fi
if ! grep -Fqx "$TOPIC" "$dir/topics"; then
  echo "topic $TOPIC does not exist yet: the first write creates it where the brokers allow auto-creation"
  exit 0
fi
if ! kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --command-config "$dir/client.properties" --describe --topic "$TOPIC" > "$dir/describe" 2>&1; then
  tail -n 20 "$dir/describe" >&2
  echo "describing topic $TOPIC failed" >&2
  exit 1
fi
cat "$dir/describe"
if grep -Eq 'Leader: *(none|-1)' "$dir/describe"; then
  echo "topic $TOPIC has partitions without a leader" >&2
  exit 1
fi
echo "topic $TOPIC: every partition has a leader"
"#;

/// ZooKeeper: the `srvr` four-letter word must report a `Mode` (standalone, leader or
/// follower), which a member only does while it serves requests.
///
/// Env: `HOST`, `PORT`. Needs `nc`.
pub const ZOOKEEPER: &str = r#"set -u
command -v nc >/dev/null || { echo "no nc in this image" >&2; exit 2; }
out=$(echo srvr | nc -w 5 "$HOST" "$PORT" 2>&1)
case "$out" in
  *"Mode: "*)
    printf '%s\n' "$out"
    echo "srvr on $HOST:$PORT: serving"
    exit 0
    ;;
esac
printf '%s\n' "$out" >&2
echo "srvr on $HOST:$PORT reported no Mode: not serving (no quorum?), or srvr not whitelisted" >&2
exit 1
"#;

/// HTTP: `GET $URL` must answer 2xx with `$EXPECT` somewhere in the body.
///
/// Env: `URL`, `EXPECT`. Needs `curl`.
pub const HTTP: &str = r#"set -u
command -v curl >/dev/null || { echo "no curl in this image" >&2; exit 2; }
dir=$(mktemp -d) || exit 2
trap 'rm -rf "$dir"' EXIT
code=$(curl -sS --connect-timeout 5 --max-time 15 -o "$dir/body" -w '%{http_code}' "$URL") \
  || { echo "GET $URL failed" >&2; exit 1; }
body=$(head -c 2000 "$dir/body")
case "$code" in
  2??) ;;
  *) printf '%s\n' "$body" >&2; echo "GET $URL: HTTP $code" >&2; exit 1 ;;
esac
case "$body" in
  *"$EXPECT"*) echo "GET $URL: HTTP $code"; exit 0 ;;
esac
printf '%s\n' "$body" >&2
echo "GET $URL: HTTP $code, but the body lacks \"$EXPECT\"" >&2
exit 1
"#;
