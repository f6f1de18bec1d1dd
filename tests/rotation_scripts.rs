//! The credential rotation scripts (`stackctl::stacks::rotation_scripts`) run for
//! real — the very strings the rotation Jobs run, with `sh -c` and only the
//! environment a Job would give them — against MariaDB and PostgreSQL on loopback:
//! afterwards the new passwords log in and the old ones do not; passwords with
//! quotes, backslashes, `$`, `#` and spaces arrive byte for byte; a wrong current
//! password fails with exit 1, says so, and changes nothing; a re-run after a
//! rotation goes on with the new administrator password.
//!
//! Needs `mariadbd`, `mariadb-install-db`, a `mysql` or `mariadb` client (Debian:
//! mariadb-server mariadb-client) and PostgreSQL ≥ 15 (Debian: postgresql; psql 15
//! brought `\getenv`). `.ci/run` installs them. Without them a test fails under CI
//! (`CI=true`) and is skipped with a printed reason elsewhere.

use std::process::{Command, Output};

use stackctl::stacks::probe_scripts;
use stackctl::stacks::rotation_scripts as scripts;

mod local;
use local::*;

const MYSQL_TOOLS: &[&str] = &[
    "sh",
    "sed",
    "od",
    "tr",
    "mariadbd",
    "mariadb-install-db",
    "mysql",
];

/// A second nasty password: a leading space, a trailing backslash, `'` next to `\`.
const NASTY2: &str = " a\\'b\"c $HOME `x` #y%%\\";

/// `admin@localhost` and `admin@%` with `password`, as the MySQL image creates
/// `root` (docker-library/mysql 8.4/docker-entrypoint.sh, `docker_setup_db`); the
/// socket's own `root` stays untouched for the test's checks.
fn mariadb_with_admin(password: &str) -> Mariadb {
    let db = start_mariadb();
    let pw = sql_string(password);
    db.root_sql(&format!(
        "CREATE USER 'admin'@'localhost' IDENTIFIED BY {pw};
         GRANT ALL ON *.* TO 'admin'@'localhost' WITH GRANT OPTION;
         CREATE USER 'admin'@'%' IDENTIFIED BY {pw};
         GRANT ALL ON *.* TO 'admin'@'%' WITH GRANT OPTION;"
    ));
    db
}

fn rotate_mysql(db: &Mariadb, current: &str, new_admin: &str, new_app: &str) -> Output {
    let port = db.port.to_string();
    run(
        scripts::MYSQL,
        &[
            ("HOST", "127.0.0.1"),
            ("PORT", &port),
            ("ADMIN_USER", "admin"),
            ("ADMIN_HOSTS", "localhost %"),
            ("ADMIN_PASSWORD", current),
            ("NEW_ADMIN_PASSWORD", new_admin),
            ("APP_USER", "clickvisual"),
            ("APP_HOST", "%"),
            ("NEW_APP_PASSWORD", new_app),
        ],
    )
}

/// Whether `user` logs in over TCP with `password` (the ClickVisual probe script).
fn mysql_logs_in(db: &Mariadb, user: &str, password: &str) -> bool {
    let port = db.port.to_string();
    run(
        probe_scripts::MYSQL,
        &[
            ("HOST", "127.0.0.1"),
            ("PORT", &port),
            ("DATABASE", "clickvisual"),
            ("MYSQL_USER", user),
            ("MYSQL_PASSWORD", password),
        ],
    )
    .status
    .success()
}

#[test]
fn mysql_rotation_sets_new_passwords_and_retires_the_old() {
    if !have(MYSQL_TOOLS) {
        return;
    }
    let db = mariadb_with_admin("OldRoot1");
    assert!(mysql_logs_in(&db, "clickvisual", "RightPw1"));

    let out = rotate_mysql(&db, "OldRoot1", NASTY, NASTY2);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("new passwords set on 127.0.0.1:")
            && stdout(&out).contains("admin@localhost admin@% clickvisual@%"),
        "{}",
        stdout(&out)
    );

    assert!(mysql_logs_in(&db, "clickvisual", NASTY2));
    assert!(!mysql_logs_in(&db, "clickvisual", "RightPw1"));
    assert!(mysql_logs_in(&db, "admin", NASTY));
    assert!(!mysql_logs_in(&db, "admin", "OldRoot1"));
    // admin@localhost (not reachable over TCP here) got the same password.
    let hashes =
        db.root_sql("SELECT DISTINCT authentication_string FROM mysql.user WHERE user = 'admin'");
    assert_eq!(hashes.lines().count(), 1, "{hashes}");

    // A re-run (the upgrade failed after rotating): the current password no longer
    // works, the new one does, and the run goes on.
    let again = rotate_mysql(&db, "OldRoot1", NASTY, NASTY2);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already has the new password"),
        "{}",
        stderr(&again)
    );
    assert!(mysql_logs_in(&db, "clickvisual", NASTY2));
}

#[test]
fn mysql_rotation_of_the_app_password_alone_leaves_the_admin() {
    if !have(MYSQL_TOOLS) {
        return;
    }
    let db = mariadb_with_admin("OldRoot1");
    let out = rotate_mysql(&db, "OldRoot1", "", "NewApp$1 'x'");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(mysql_logs_in(&db, "clickvisual", "NewApp$1 'x'"));
    assert!(!mysql_logs_in(&db, "clickvisual", "RightPw1"));
    assert!(mysql_logs_in(&db, "admin", "OldRoot1"));
}

#[test]
fn mysql_rotation_with_a_wrong_current_password_changes_nothing() {
    if !have(MYSQL_TOOLS) {
        return;
    }
    let db = mariadb_with_admin("OldRoot1");
    let out = rotate_mysql(&db, "NotTheRootPw", "NewRoot1", "NewApp1");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot log in to 127.0.0.1:")
            && stderr(&out).contains("as admin with the current password"),
        "{}",
        stderr(&out)
    );
    assert!(mysql_logs_in(&db, "clickvisual", "RightPw1"));
    assert!(mysql_logs_in(&db, "admin", "OldRoot1"));
    assert!(!mysql_logs_in(&db, "clickvisual", "NewApp1"));
}

// ---------------------------------------------------------------------------
// PostgreSQL

fn postgres_with_accounts(superuser: &str, app: &str) -> Postgres {
    let pg = start_postgres();
    let q = |s: &str| format!("'{}'", s.replace('\'', "''"));
    pg.superuser_sql(&format!("ALTER ROLE postgres PASSWORD {}", q(superuser)));
    pg.superuser_sql(&format!("CREATE ROLE aiops LOGIN PASSWORD {}", q(app)));
    pg.superuser_sql("CREATE DATABASE aiops OWNER aiops");
    pg
}

fn rotate_postgres(pg: &Postgres, current: &str, new_admin: &str, new_app: &str) -> Output {
    let port = pg.port.to_string();
    run(
        scripts::POSTGRESQL,
        &[
            ("HOST", "127.0.0.1"),
            ("PORT", &port),
            ("ADMIN_USER", "postgres"),
            ("ADMIN_PASSWORD", current),
            ("NEW_ADMIN_PASSWORD", new_admin),
            ("APP_USER", "aiops"),
            ("APP_DATABASE", "aiops"),
            ("NEW_APP_PASSWORD", new_app),
        ],
    )
}

/// Whether `user` logs in over TCP with `password` (SCRAM).
fn pg_logs_in(pg: &Postgres, user: &str, password: &str, database: &str) -> bool {
    let out = Command::new(which("psql").unwrap())
        .args([
            "-X",
            "-w",
            "-tA",
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port.to_string(),
        ])
        .args(["-U", user, "-d", database, "-c", "SELECT 1"])
        .env_clear()
        .env("PGPASSWORD", password)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("psql runs");
    out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "1"
}

#[test]
fn postgres_rotation_sets_new_passwords_and_retires_the_old() {
    if !have_postgres() {
        return;
    }
    let pg = postgres_with_accounts("OldSuper1", "OldApp1");
    assert!(pg_logs_in(&pg, "aiops", "OldApp1", "aiops"));

    let out = rotate_postgres(&pg, "OldSuper1", NASTY, NASTY2);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("for postgres aiops"),
        "{}",
        stdout(&out)
    );

    assert!(pg_logs_in(&pg, "aiops", NASTY2, "aiops"));
    assert!(!pg_logs_in(&pg, "aiops", "OldApp1", "aiops"));
    assert!(pg_logs_in(&pg, "postgres", NASTY, "postgres"));
    assert!(!pg_logs_in(&pg, "postgres", "OldSuper1", "postgres"));

    let again = rotate_postgres(&pg, "OldSuper1", NASTY, NASTY2);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already has the new password"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn postgres_rotation_of_the_app_password_alone_leaves_the_superuser() {
    if !have_postgres() {
        return;
    }
    let pg = postgres_with_accounts("OldSuper1", "OldApp1");
    let out = rotate_postgres(&pg, "OldSuper1", "", "NewApp$1 'x' \\");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(pg_logs_in(&pg, "aiops", "NewApp$1 'x' \\", "aiops"));
    assert!(!pg_logs_in(&pg, "aiops", "OldApp1", "aiops"));
    assert!(pg_logs_in(&pg, "postgres", "OldSuper1", "postgres"));
}

#[test]
fn postgres_rotation_with_a_wrong_current_password_changes_nothing() {
    if !have_postgres() {
        return;
    }
    let pg = postgres_with_accounts("OldSuper1", "OldApp1");
    let out = rotate_postgres(&pg, "NotTheSuperPw", "NewSuper1", "NewApp1");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("as postgres with the current password"),
        "{}",
        stderr(&out)
    );
    assert!(pg_logs_in(&pg, "aiops", "OldApp1", "aiops"));
    assert!(pg_logs_in(&pg, "postgres", "OldSuper1", "postgres"));
    assert!(!pg_logs_in(&pg, "aiops", "NewApp1", "aiops"));
}
