//! The AIOps PostgreSQL init script (`10-create-account.sh`, from the rendered
//! ConfigMap), run by Debian's PostgreSQL the way the postgres image's entrypoint
//! runs it: a `*.sh` file that is not executable (a ConfigMap file is mode 0644) is
//! sourced by the entrypoint's bash (`set -Eeo pipefail`), as the `postgres` user,
//! with the container's env, while a first-run server listens on its socket
//! (docker-library/postgres, `17/bookworm/docker-entrypoint.sh`,
//! `docker_process_init_files` and `docker_temp_server_start`).
//!
//! A pass proves: with a password holding both quotes, a backslash, `$`, `%`, `#`
//! and spaces, the script exits 0, the platform's role logs in over TCP with exactly
//! that password (and not with another), and owns the platform's database.
//!
//! What the test changes: the server is a throwaway cluster in a temporary
//! directory (initdb as `postgres`, local connections trusted and TCP ones
//! scram-sha-256, as the image sets them up), so `PGHOST`/`PGPORT` point the
//! script's psql at its socket; the image's psql finds its server at the default
//! socket without them. What it does not prove: Debian bookworm ships PostgreSQL
//! 15, the stack runs postgres:17; the script needs psql 15 or later (`\getenv`),
//! and the SQL it runs is the same in both.
//!
//! Needs Debian's `postgresql` (initdb and pg_ctl under /usr/lib/postgresql/*/bin,
//! psql), `runuser` (util-linux) and `bash`. Without one, the test fails under CI
//! (`CI=true`) and is skipped with a printed reason elsewhere.

mod common;
mod local;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rand::SeedableRng;
use rand::rngs::StdRng;
use stackctl::model::Capabilities;
use stackctl::operations::prepare_with_rng;

use local::{NASTY, free_port, have};

/// A PostgreSQL server program, from the newest version Debian installed.
fn pg_bin(name: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|v| v.path().join("bin").join(name))
        .filter(|p| p.is_file())
        .collect();
    found.sort_by_key(|p| {
        p.components()
            .nth(4)
            .and_then(|c| c.as_os_str().to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

fn have_server() -> bool {
    if pg_bin("initdb").is_some() && pg_bin("pg_ctl").is_some() {
        return true;
    }
    let msg = "missing initdb, pg_ctl under /usr/lib/postgresql/*/bin: install the Debian \
               package postgresql (see .ci/run)";
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!ci, "{msg}");
    eprintln!("skipped: {msg}");
    false
}

/// The init script, and the role and database it is for, as the stack renders them.
fn rendered() -> (String, String, String) {
    let input = common::profile_input("aiops-minimal", None, Some("aiops".into()));
    let prepared = prepare_with_rng(&input, &mut StdRng::seed_from_u64(3)).unwrap();
    let plan = prepared.plan(Capabilities::latest()).unwrap();
    let ms: Vec<_> = plan.manifests().collect();
    let cm = ms
        .iter()
        .find(|m| m.kind == "ConfigMap" && m.name.ends_with("-postgresql-init"))
        .expect("the init ConfigMap");
    let script = cm.body["data"]["10-create-account.sh"]
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

/// `runuser -u postgres -- env -i PATH=… <env> <program> <args>`: as the image's
/// user, with nothing of the test's env.
fn as_postgres(env: &[(&str, &str)], program: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--", "env", "-i"]).arg(format!(
        "PATH={}",
        std::env::var("PATH").unwrap_or_default()
    ));
    for (k, v) in env {
        cmd.arg(format!("{k}={v}"));
    }
    cmd.arg(program).args(args);
    cmd
}

/// A server, stopped at once when the test ends however it ends.
struct Cluster {
    data: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let pg_ctl = pg_bin("pg_ctl").unwrap();
        let data = self.data.display().to_string();
        let _ = as_postgres(&[], &pg_ctl, &["-D", &data, "-m", "immediate", "stop"]).output();
    }
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
    if !have(&["bash", "psql", "runuser", "env"]) || !have_server() {
        return;
    }
    let (script, role, database) = rendered();
    assert!(NASTY.contains('\'') && NASTY.contains('\\') && NASTY.contains('$'));

    let dir = tempfile::tempdir().unwrap();
    // The postgres user must reach its files inside root's temporary directory.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    let socket = dir.path().join("socket");
    for d in [&data, &socket] {
        fs::create_dir(d).unwrap();
        let chown = run(Command::new("chown").arg("postgres:postgres").arg(d));
        assert!(chown.status.success());
    }
    let init_file = dir.path().join("10-create-account.sh");
    fs::write(&init_file, &script).unwrap();
    fs::set_permissions(&init_file, fs::Permissions::from_mode(0o644)).unwrap();

    let data_s = data.display().to_string();
    let initdb = run(&mut as_postgres(
        &[],
        &pg_bin("initdb").unwrap(),
        &[
            "-D",
            &data_s,
            "--username=postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ],
    ));
    assert!(initdb.status.success());
    let port = free_port();
    let options = format!(
        "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={}",
        socket.display()
    );
    let log = dir.path().join("data").join("server.log");
    let start = run(&mut as_postgres(
        &[],
        &pg_bin("pg_ctl").unwrap(),
        &[
            "-D",
            &data_s,
            "-o",
            &options,
            "-l",
            &log.display().to_string(),
            "-w",
            "-t",
            "60",
            "start",
        ],
    ));
    let _cluster = Cluster { data: data.clone() };
    assert!(
        start.status.success(),
        "{}",
        fs::read_to_string(&log).unwrap_or_default()
    );

    // As the entrypoint does it: sourced into bash, with the container's env.
    let port_s = port.to_string();
    let socket_s = socket.display().to_string();
    let out = run(&mut as_postgres(
        &[
            ("POSTGRES_USER", "postgres"),
            ("APP_PASSWORD", NASTY),
            ("PGHOST", &socket_s),
            ("PGPORT", &port_s),
        ],
        Path::new("/bin/bash"),
        &[
            "-c",
            r#"set -Eeo pipefail; . "$1""#,
            "docker-entrypoint.sh",
            &init_file.display().to_string(),
        ],
    ));
    assert!(out.status.success(), "the init script failed");

    let me = psql_tcp(port, &role, &database, NASTY, "SELECT current_user");
    assert!(me.status.success());
    assert_eq!(String::from_utf8_lossy(&me.stdout).trim(), role);
    let wrong = psql_tcp(port, &role, &database, "p@ss w\"o'rd", "SELECT 1");
    assert!(!wrong.status.success(), "logged in with another password");
    let owner = psql_tcp(
        port,
        &role,
        &database,
        NASTY,
        &format!("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{database}'"),
    );
    assert_eq!(String::from_utf8_lossy(&owner.stdout).trim(), role);
}
