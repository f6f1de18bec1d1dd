//! The AIOps PostgreSQL init script (`10-create-account.sh`, from the rendered
//! ConfigMap), run by Debian's PostgreSQL the way the postgres image's entrypoint
//! runs it: a `*.sh` file that is not executable (a ConfigMap file is mode 0644) is
//! sourced by the entrypoint's bash (`set -Eeo pipefail`) (here as the test's user: trust on the socket),
//! with the container's env, while a first-run server listens on its socket
//! (docker-library/postgres, `17/bookworm/docker-entrypoint.sh`,
//! `docker_process_init_files` and `docker_temp_server_start`).
//!
//! A pass proves: with a password file holding both quotes, a backslash, `$`, `%`,
//! `#` and spaces, the script exits 0, the platform's role logs in over TCP with
//! exactly that password (and not with another), and owns the platform's database.
//! The pod's readiness probe, also from the rendered StatefulSet, is run the same
//! way: it passes with the superuser's password file and fails without it.
//!
//! What the test changes: the server is a throwaway cluster in a temporary
//! directory (`local::start_postgres`: local connections trusted and TCP ones
//! scram-sha-256, as the image sets them up), so `PGHOST`/`PGPORT` point the
//! script's psql at its socket; the image's psql finds its server at the default
//! socket without them. What it does not prove: Debian bookworm ships PostgreSQL
//! 15, the stack runs postgres:17; the script needs psql 15 or later (`\getenv`),
//! and the SQL it runs is the same in both.
//!
//! Needs Debian's `postgresql` (initdb and postgres under /usr/lib/postgresql/*/bin,
//! psql) and `bash`. Without one, the test fails under CI
//! (`CI=true`) and is skipped with a printed reason elsewhere.

mod common;
mod local;

use std::process::{Command, Output};

use local::{NASTY, have, have_postgres, start_postgres};

/// The init script, and the role and database it is for, as the stack renders them.
fn rendered() -> (String, String, String) {
    let ms = common::render("aiops-minimal", "aiops", &[]);
    let script = common::find(&ms, "ConfigMap", "-postgresql-init")["data"]["10-create-account.sh"]
        .as_str()
        .unwrap()
        .to_string();
    let quoted_after = |prefix: &str| {
        let rest =
            &script[script.find(prefix).unwrap_or_else(|| panic!("{script}")) + prefix.len()..];
        rest[..rest.find('"').unwrap()].to_string()
    };
    let role = quoted_after("CREATE ROLE \"");
    let database = quoted_after("CREATE DATABASE \"");
    (script, role, database)
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("runs");
    eprintln!(
        "--- {cmd:?}\n{}{}--- exit {:?}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code()
    );
    out
}

fn psql_tcp(port: u16, user: &str, db: &str, password: &str, sql: &str) -> Output {
    run(Command::new("psql")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PGPASSWORD", password)
        .arg(format!(
            "host=127.0.0.1 port={port} user={user} dbname={db} connect_timeout=10"
        ))
        .args(["-X", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql]))
}

#[test]
fn the_init_script_creates_the_account_with_any_password() {
    if !have(&["bash", "psql"]) || !have_postgres() {
        return;
    }
    let (script, role, database) = rendered();
    assert!(NASTY.contains('\'') && NASTY.contains('\\') && NASTY.contains('$'));
    let pg = start_postgres();
    let dir = tempfile::tempdir().unwrap();
    let init_file = dir.path().join("10-create-account.sh");
    std::fs::write(&init_file, &script).unwrap();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, NASTY).unwrap();

    // As the entrypoint does it: sourced into bash, with the container's env and
    // nothing of the test's.
    let out = run(Command::new("bash")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("POSTGRES_USER", "postgres")
        .env("APP_PASSWORD_FILE", &password_file)
        .env("PGHOST", &pg.socket_dir)
        .env("PGPORT", pg.port.to_string())
        .args(["-c", r#"set -Eeo pipefail; . "$1""#, "docker-entrypoint.sh"])
        .arg(&init_file));
    assert!(out.status.success(), "the init script failed");

    let me = psql_tcp(pg.port, &role, &database, NASTY, "SELECT current_user");
    assert!(me.status.success());
    assert_eq!(String::from_utf8_lossy(&me.stdout).trim(), role);
    let wrong = psql_tcp(pg.port, &role, &database, "p@ss w\"o'rd", "SELECT 1");
    assert!(!wrong.status.success(), "logged in with another password");
    let owner = psql_tcp(
        pg.port,
        &role,
        &database,
        NASTY,
        &format!("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{database}'"),
    );
    assert_eq!(String::from_utf8_lossy(&owner.stdout).trim(), role);
}

#[test]
fn the_readiness_probe_logs_in_with_the_superusers_password_file() {
    if !have(&["sh", "cat", "grep", "psql"]) || !have_postgres() {
        return;
    }
    let pg = start_postgres();
    pg.superuser_sql(&format!(
        "ALTER ROLE postgres PASSWORD '{}'",
        NASTY.replace('\'', "''")
    ));
    // The pod's server listens on the image's port; the test's on a free one.
    let probe = common::readiness_script("aiops-minimal", "aiops", "-postgresql");
    let image_port = " -p 5432 ";
    assert!(probe.contains(image_port), "{probe}");
    let probe = probe.replace(image_port, &format!(" -p {} ", pg.port));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    let ready = |password: Option<&str>| {
        match password {
            Some(p) => std::fs::write(&file, p).unwrap(),
            None => {
                let _ = std::fs::remove_file(&file);
            }
        }
        run(Command::new("sh")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("POSTGRES_PASSWORD_FILE", &file)
            .args(["-c", &probe]))
        .status
        .success()
    };
    assert!(ready(Some(NASTY)), "the superuser's password from the file");
    assert!(!ready(Some("p@ss w\"o'rd")), "another password");
    assert!(!ready(None), "no file");
    // A rotated password: the file's new content counts on the next run.
    pg.superuser_sql("ALTER ROLE postgres PASSWORD 'Rotated1'");
    assert!(ready(Some("Rotated1")));
}
