//! The scripts of the credential rotation Jobs (see `model::RotationJob`), as POSIX
//! `sh -c` scripts following the probe scripts' rules (`probe_scripts`): every input
//! from the environment, credentials from `secretKeyRef` env handed to the client
//! through an option file or its environment, never an argument; the last line on
//! stdout says what was done, stderr why not; exit 1 when the service refused,
//! exit 2 when the image lacks what the script needs.
//!
//! Both log in as the administrator with the *current* password (the one in the
//! release record), change every named account's password in one statement or
//! transaction, then log in with each new password. A run that finds the
//! administrator's password already changed (an earlier upgrade rotated it, then
//! failed later) logs in with the new one and goes on, so re-running the upgrade
//! works.
//!
//! No password is ever part of the SQL text: MySQL gets each value as hex digits
//! and quotes it itself (`QUOTE`) in a prepared statement; psql reads it from the
//! environment (`\getenv`) and quotes it itself (`:'name'`).
//!
//! `tests/rotation_scripts.rs` runs these very strings against MariaDB and
//! PostgreSQL.

/// MySQL (the ClickVisual stack's): `ALTER USER … IDENTIFIED BY …` for the
/// administrator on each of its hosts and for the app's account, in one statement
/// (atomic in MySQL 8).
///
/// Env: `HOST`, `PORT`, `ADMIN_USER`, `ADMIN_HOSTS` (space-separated), and the
/// secrets `ADMIN_PASSWORD` (current), `NEW_ADMIN_PASSWORD` (empty: unchanged);
/// `APP_USER`, `APP_HOST`, `NEW_APP_PASSWORD` (empty: unchanged). Needs a `mysql`
/// or `mariadb` client, `od`, `sed` and `tr`.
pub const MYSQL: &str = r#"set -u
set -f
client=$(command -v mysql || command -v mariadb) || { echo "no mysql or mariadb client in this image" >&2; exit 2; }
for tool in od sed tr; do
  command -v "$tool" >/dev/null || { echo "no $tool in this image" >&2; exit 2; }
done
umask 077
dir=$(mktemp -d) || exit 2
trap 'rm -rf "$dir"' EXIT
case $("$client" --version 2>/dev/null) in
  *MariaDB*) extra= ;;
  *) extra='get-server-public-key=1' ;;
esac
# An option file holding a password: in option files a backslash escapes, and a
# `"` or `#` outside quotes ends the value, so it is double-quoted, `\` and `"`
# escaped.
option_file() {
  escaped=$(printf '%s' "$2" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')
  printf '[client]\npassword="%s"\n%s\n' "$escaped" "$extra" > "$1"
}
# A string as SQL that never holds its text: hex digits, decoded by the server.
str() {
  printf "CONVERT(UNHEX('%s') USING utf8mb4)" "$(printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n')"
}
# sql USER OPTION_FILE: stdin as SQL over TCP; stderr kept in $dir/err.
sql() {
  "$client" --defaults-extra-file="$2" --protocol=TCP --connect-timeout=10 \
    -h "$HOST" -P "$PORT" -u "$1" -N -B 2>"$dir/err"
}
new_admin=${NEW_ADMIN_PASSWORD:-}
new_app=${NEW_APP_PASSWORD:-}
option_file "$dir/current.cnf" "$ADMIN_PASSWORD"
login="$dir/current.cnf"
if [ "$(echo 'SELECT 1' | sql "$ADMIN_USER" "$login")" != 1 ]; then
  cat "$dir/err" >&2
  if [ -n "$new_admin" ]; then
    option_file "$dir/new-admin.cnf" "$new_admin"
    if [ "$(echo 'SELECT 1' | sql "$ADMIN_USER" "$dir/new-admin.cnf")" = 1 ]; then
      echo "$ADMIN_USER already has the new password (an earlier rotation); going on with it" >&2
      login="$dir/new-admin.cnf"
    fi
  fi
  if [ "$login" = "$dir/current.cnf" ]; then
    echo "cannot log in to $HOST:$PORT as $ADMIN_USER with the current password from the release record; nothing was changed" >&2
    exit 1
  fi
fi
parts=
names=
add() {
  part="QUOTE($(str "$1")), '@', QUOTE($(str "$2")), ' IDENTIFIED BY ', QUOTE($(str "$3"))"
  if [ -z "$parts" ]; then parts=$part; else parts="$parts, ', ', $part"; fi
  names="$names $1@$2"
}
if [ -n "$new_admin" ]; then
  for h in $ADMIN_HOSTS; do add "$ADMIN_USER" "$h" "$new_admin"; done
fi
if [ -n "$new_app" ]; then add "$APP_USER" "$APP_HOST" "$new_app"; fi
if [ -z "$parts" ]; then
  echo "neither NEW_ADMIN_PASSWORD nor NEW_APP_PASSWORD is set: nothing to rotate" >&2
  exit 2
fi
# QUOTE escapes with backslashes, which NO_BACKSLASH_ESCAPES would take literally.
sql "$ADMIN_USER" "$login" <<EOSQL
SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '');
SET @rotate = CONCAT('ALTER USER ', $parts);
PREPARE rotate FROM @rotate;
EXECUTE rotate;
DEALLOCATE PREPARE rotate;
EOSQL
rc=$?
if [ "$rc" -ne 0 ]; then
  cat "$dir/err" >&2
  echo "ALTER USER${names} on $HOST:$PORT failed (client exit status $rc); nothing was changed" >&2
  exit 1
fi
check() {
  option_file "$dir/check.cnf" "$2"
  if [ "$(echo 'SELECT 1' | sql "$1" "$dir/check.cnf")" != 1 ]; then
    cat "$dir/err" >&2
    echo "the password of $1 was changed, but logging in with the new one failed" >&2
    exit 1
  fi
}
[ -z "$new_admin" ] || check "$ADMIN_USER" "$new_admin"
[ -z "$new_app" ] || check "$APP_USER" "$new_app"
echo "new passwords set on $HOST:$PORT for${names}"
"#;

/// PostgreSQL (the AIOps stack's): `ALTER ROLE … PASSWORD …` for the superuser and
/// the platform's role, in one transaction. Needs psql 15 or newer (`\getenv`).
///
/// Env: `HOST`, `PORT`, `ADMIN_USER`, `APP_USER`, `APP_DATABASE`, and the secrets
/// `ADMIN_PASSWORD` (current), `NEW_ADMIN_PASSWORD`, `NEW_APP_PASSWORD` (empty:
/// unchanged).
pub const POSTGRESQL: &str = r#"set -u
command -v psql >/dev/null || { echo "no psql in this image" >&2; exit 2; }
umask 077
dir=$(mktemp -d) || exit 2
trap 'rm -rf "$dir"' EXIT
new_admin=${NEW_ADMIN_PASSWORD:-}
new_app=${NEW_APP_PASSWORD:-}
# psql USER PASSWORD DATABASE: stdin as SQL; the password through psql's env.
q() {
  PGPASSWORD=$2 psql -X -q -w -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U "$1" -d "$3" -tA 2>"$dir/err"
}
admin_pw=$ADMIN_PASSWORD
if [ "$(echo 'SELECT 1' | q "$ADMIN_USER" "$admin_pw" postgres)" != 1 ]; then
  cat "$dir/err" >&2
  if [ -n "$new_admin" ] && [ "$(echo 'SELECT 1' | q "$ADMIN_USER" "$new_admin" postgres)" = 1 ]; then
    echo "$ADMIN_USER already has the new password (an earlier rotation); going on with it" >&2
    admin_pw=$new_admin
  else
    echo "cannot log in to $HOST:$PORT as $ADMIN_USER with the current password from the release record; nothing was changed" >&2
    exit 1
  fi
fi
statements=
names=
if [ -n "$new_admin" ]; then
  statements="ALTER ROLE :\"admin_user\" PASSWORD :'new_admin';"
  names=" $ADMIN_USER"
fi
if [ -n "$new_app" ]; then
  statements="$statements
ALTER ROLE :\"app_user\" PASSWORD :'new_app';"
  names="$names $APP_USER"
fi
if [ -z "$statements" ]; then
  echo "neither NEW_ADMIN_PASSWORD nor NEW_APP_PASSWORD is set: nothing to rotate" >&2
  exit 2
fi
q "$ADMIN_USER" "$admin_pw" postgres <<EOSQL
\getenv admin_user ADMIN_USER
\getenv app_user APP_USER
\getenv new_admin NEW_ADMIN_PASSWORD
\getenv new_app NEW_APP_PASSWORD
BEGIN;
$statements
COMMIT;
EOSQL
rc=$?
if [ "$rc" -ne 0 ]; then
  cat "$dir/err" >&2
  echo "ALTER ROLE${names} on $HOST:$PORT failed (psql exit status $rc); nothing was changed" >&2
  exit 1
fi
check() {
  if [ "$(echo 'SELECT 1' | q "$1" "$2" "$3")" != 1 ]; then
    cat "$dir/err" >&2
    echo "the password of $1 was changed, but logging in with the new one failed" >&2
    exit 1
  fi
}
[ -z "$new_admin" ] || check "$ADMIN_USER" "$new_admin" postgres
[ -z "$new_app" ] || check "$APP_USER" "$new_app" "$APP_DATABASE"
echo "new passwords set on $HOST:$PORT for${names}"
"#;
