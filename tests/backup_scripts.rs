//! The backup and restore scripts (`stackctl::stacks::backup_scripts`), run for real:
//! the very strings the Jobs run, with `sh -c` and only the environment a Job gives
//! them, against Debian's MariaDB, PostgreSQL and Redis on loopback. Each test writes
//! rows, backs up, changes and drops things, restores, and compares; and the copy
//! of an SQLite file (Grafana's database) against Debian's `sqlite3`. Elasticsearch
//! is not in Debian: its snapshot scripts run against a stand-in of the API calls
//! they make (`tests/local/es_standin.py`, Python 3), which is all they are
//! tested against.
//!
//! What a pass does not prove: MariaDB's `mysqldump` (`mariadb-dump`) stands in for
//! MySQL 8.4's, PostgreSQL 15 for 17, Redis 7.0 for 7.4, dash for bash and BusyBox
//! sh; the flags used are common to both (`--single-transaction --no-tablespaces
//! --routines --events --triggers --databases`).
//!
//! Needs `mariadbd`, `mariadb-install-db`, `mysqldump`, a `mysql` or `mariadb`
//! client, Debian's `postgresql` (with `pg_dump`, `pg_restore`, `psql`),
//! `redis-server`, `redis-cli`, `sqlite3`, `python3`, `curl`, `tar`, `gzip`,
//! `sha256sum`, and for ClickHouse's shards of replicas Debian's `zookeeper`
//! (Java). Without one, a test fails
//! under CI (`CI=true`) and is skipped with a printed reason elsewhere.

mod common;
mod local;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use local::*;
use serde_json::Value;
use stackctl::stacks::backup_scripts as scripts;

/// The result line a backup script ends with, checked against the file it names.
fn result(out: &Output, file: &Path) -> Value {
    assert!(out.status.success(), "{}", stderr(out));
    let line = stdout(out).lines().last().unwrap_or_default().to_string();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    assert_eq!(v["file"], file.file_name().unwrap().to_str().unwrap());
    assert_eq!(v["bytes"], std::fs::metadata(file).unwrap().len());
    let sum = Command::new("sha256sum").arg(file).output().unwrap();
    let sum = String::from_utf8_lossy(&sum.stdout);
    assert_eq!(v["sha256"], sum.split(' ').next().unwrap());
    v
}

fn password_file(dir: &Path, password: &str) -> String {
    let path = dir.join("password");
    std::fs::write(&path, password).unwrap();
    path.display().to_string()
}

#[test]
fn mysql_dump_and_restore_bring_the_database_back() {
    if !have(&[
        "mariadbd",
        "mariadb-install-db",
        "mysqldump",
        "gzip",
        "sha256sum",
    ]) {
        return;
    }
    let db = start_mariadb();
    db.root_sql(
        "CREATE TABLE clickvisual.cv_user (id INT PRIMARY KEY, name VARCHAR(64));
         INSERT INTO clickvisual.cv_user VALUES (1, 'ada'), (2, 'o''brien \\\\ \"x\"');
         CREATE TABLE clickvisual.cv_view (id INT PRIMARY KEY);
         INSERT INTO clickvisual.cv_view VALUES (7);",
    );
    let table = |t: &str| db.root_sql(&format!("SELECT * FROM clickvisual.{t} ORDER BY 1"));
    let users = table("cv_user");
    let dir = tempfile::tempdir().unwrap();
    // The user whose password has quotes, a backslash, `$`, `%`, `#` and spaces.
    let pw = password_file(dir.path(), NASTY);
    // In the backup's own directory, which the script makes.
    let out = dir.path().join("20261130-203000").join("mysql.sql.gz");
    let result_file = dir.path().join("termination-log");
    let port = db.port.to_string();
    let env = |extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        let mut e = vec![
            ("HOST", "127.0.0.1".to_string()),
            ("PORT", port.clone()),
            ("DATABASE", "clickvisual".to_string()),
            ("MYSQL_USER", "nasty".to_string()),
            ("MYSQL_PASSWORD_FILE", pw.clone()),
        ];
        e.extend(extra.iter().cloned());
        e
    };
    let run_with = |script: &str, e: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(script, &pairs)
    };

    let dumped = run_with(
        &scripts::mysql_dump(),
        env(&[
            ("OUT", out.display().to_string()),
            ("RESULT_FILE", result_file.display().to_string()),
        ]),
    );
    let line = result(&dumped, &out);
    let sum = line["sha256"].as_str().unwrap().to_string();
    // The Job's termination message is the same line.
    let message: Value =
        serde_json::from_str(&std::fs::read_to_string(&result_file).unwrap()).unwrap();
    assert_eq!(message, line);
    assert!(
        !stdout(&dumped).contains(NASTY) && !stderr(&dumped).contains(NASTY),
        "the password leaked into the output"
    );

    // After the backup: a row changed, one gone, a table dropped, one made.
    db.root_sql(
        "UPDATE clickvisual.cv_user SET name = 'eve' WHERE id = 1;
         DELETE FROM clickvisual.cv_user WHERE id = 2;
         DROP TABLE clickvisual.cv_view;
         CREATE TABLE clickvisual.since (id INT);",
    );

    // A file that is not the backup's is refused, and nothing is touched.
    let refused = run_with(
        &scripts::mysql_restore(),
        env(&[
            ("IN", out.display().to_string()),
            ("EXPECTED_SHA256", "0".repeat(64)),
        ]),
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("refusing to restore"),
        "{}",
        stderr(&refused)
    );
    assert!(table("cv_user").contains("eve"));

    let restored = run_with(
        &scripts::mysql_restore(),
        env(&[("IN", out.display().to_string()), ("EXPECTED_SHA256", sum)]),
    );
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert_eq!(table("cv_user"), users);
    assert_eq!(table("cv_view"), "7\n");
    let tables = db.root_sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'clickvisual' ORDER BY 1",
    );
    assert_eq!(
        tables, "cv_user\ncv_view\n",
        "a table made since the backup survived"
    );

    // A wrong password fails the backup, with no result line.
    let bad = password_file(dir.path(), "wrong");
    let failed = run_with(
        &scripts::mysql_dump(),
        vec![
            ("HOST", "127.0.0.1".to_string()),
            ("PORT", port.clone()),
            ("DATABASE", "clickvisual".to_string()),
            ("MYSQL_USER", "nasty".to_string()),
            ("MYSQL_PASSWORD_FILE", bad),
            ("OUT", dir.path().join("bad.sql.gz").display().to_string()),
        ],
    );
    assert!(!failed.status.success());
    assert!(!stdout(&failed).contains("sha256"), "{}", stdout(&failed));
}

/// `psql` as a TCP client with a password.
fn psql(port: u16, user: &str, password: &str, db: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1"])
        .arg(format!(
            "host=127.0.0.1 port={port} user={user} dbname={db}"
        ))
        .args(["-c", sql])
        .env("PGPASSWORD", password)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn postgres_dump_and_restore_bring_the_database_back() {
    if !(have(&["psql", "pg_dump", "pg_restore", "sha256sum"]) && have_postgres()) {
        return;
    }
    let pg = start_postgres();
    pg.superuser_sql("ALTER ROLE postgres PASSWORD 'SuperPw1'");
    // Standard strings: only the quote is doubled.
    pg.superuser_sql(&format!(
        "CREATE ROLE aiops LOGIN PASSWORD '{}'",
        NASTY.replace('\'', "''")
    ));
    pg.superuser_sql("CREATE DATABASE aiops OWNER aiops");
    let app = |sql: &str| psql(pg.port, "aiops", NASTY, "aiops", sql);
    app("CREATE TABLE dashboards (id int PRIMARY KEY, title text);
         INSERT INTO dashboards VALUES (1, 'cpu'), (2, 'it''s \\ \"q\"');
         CREATE TABLE alerts (id int);
         INSERT INTO alerts VALUES (9);");
    let before = app("SELECT * FROM dashboards ORDER BY 1");

    let dir = tempfile::tempdir().unwrap();
    let app_pw = password_file(dir.path(), NASTY);
    let out = dir.path().join("postgresql.dump");
    let port = pg.port.to_string();
    let dumped = run(
        &scripts::postgres_dump(),
        &[
            ("HOST", "127.0.0.1"),
            ("PORT", &port),
            ("DATABASE", "aiops"),
            ("PGUSER", "aiops"),
            ("PASSWORD_FILE", &app_pw),
            ("OUT", &out.display().to_string()),
        ],
    );
    let sum = result(&dumped, &out)["sha256"]
        .as_str()
        .unwrap()
        .to_string();

    app("UPDATE dashboards SET title = 'mem' WHERE id = 1;
         DROP TABLE alerts;
         CREATE TABLE since (id int);");
    // A session still open on the database (a writer not yet stopped) does not
    // block the restore.
    let mut holder = Command::new("psql")
        .args(["-X", "-q"])
        .arg(format!(
            "host=127.0.0.1 port={} user=aiops dbname=aiops",
            pg.port
        ))
        .args(["-c", "SELECT pg_sleep(60)"])
        .env("PGPASSWORD", NASTY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let super_dir = tempfile::tempdir().unwrap();
    let super_pw = password_file(super_dir.path(), "SuperPw1");
    let env = |expected: &str| {
        vec![
            ("HOST", "127.0.0.1".to_string()),
            ("PORT", port.clone()),
            ("DATABASE", "aiops".to_string()),
            ("OWNER", "aiops".to_string()),
            ("PGUSER", "postgres".to_string()),
            ("PASSWORD_FILE", super_pw.clone()),
            ("IN", out.display().to_string()),
            ("EXPECTED_SHA256", expected.to_string()),
        ]
    };
    let go = |e: Vec<(&'static str, String)>| {
        let p: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(&scripts::postgres_restore(), &p)
    };
    let refused = go(env(&"f".repeat(64)));
    assert!(!refused.status.success());
    assert!(app("SELECT title FROM dashboards WHERE id = 1").contains("mem"));

    let restored = go(env(&sum));
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert_eq!(app("SELECT * FROM dashboards ORDER BY 1"), before);
    assert_eq!(app("SELECT * FROM alerts"), "9\n");
    assert_eq!(
        app(
            "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'"
        ),
        "alerts,dashboards\n"
    );
    assert_eq!(
        app("SELECT tableowner FROM pg_tables WHERE tablename = 'dashboards'"),
        "aiops\n",
        "restored objects belong to the database's owner"
    );
}

/// A `redis-server` on loopback with a password, in `dir`.
fn redis_server(dir: &Path, port: u16, args: &[&str]) -> Server {
    let log = dir.join("redis.log");
    let mut child = Command::new("redis-server")
        .arg("--port")
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(&log)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, &mut child, &log);
    Server(child)
}

fn redis_cli(port: u16, password: &str, args: &[&str]) -> String {
    let mut cli = Command::new("redis-cli");
    cli.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "--no-auth-warning",
    ])
    .args(args);
    if !password.is_empty() {
        cli.env("REDISCLI_AUTH", password);
    }
    let out = cli.output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A directory for the test's files, the live server's data directory in it,
/// and a port for it; `None` (the test skipped) without Redis.
fn redis_dirs() -> Option<(tempfile::TempDir, std::path::PathBuf, u16)> {
    if !have(&["redis-server", "redis-cli", "sha256sum"]) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("live");
    std::fs::create_dir(&data).unwrap();
    Some((dir, data, free_port()))
}

/// The RDB copy loads into a fresh server with every key.
#[test]
fn redis_dump_is_an_rdb_a_fresh_server_loads() {
    let Some((dir, data, port)) = redis_dirs() else {
        return;
    };
    let _live = redis_server(&data, port, &["--requirepass", NASTY]);
    redis_cli(port, NASTY, &["SET", "session:1", "ada"]);
    redis_cli(port, NASTY, &["HSET", "user:2", "name", "o'brien \\ \"x\""]);
    let pw = password_file(dir.path(), NASTY);
    let out = dir.path().join("redis.rdb");
    let p = port.to_string();
    let dumped = run(
        &scripts::redis_dump(),
        &[
            ("HOST", "127.0.0.1"),
            ("PORT", &p),
            ("REDIS_PASSWORD_FILE", &pw),
            ("OUT", &out.display().to_string()),
        ],
    );
    result(&dumped, &out);

    let restored = dir.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&out, restored.join("dump.rdb")).unwrap();
    let port2 = free_port();
    let _fresh = redis_server(&restored, port2, &["--dbfilename", "dump.rdb"]);
    assert_eq!(redis_cli(port2, "", &["GET", "session:1"]), "ada\n");
    assert_eq!(
        redis_cli(port2, "", &["HGET", "user:2", "name"]),
        "o'brien \\ \"x\"\n"
    );

    // A wrong password fails the backup, with no result line.
    let bad = password_file(&data, "wrong");
    let failed = run(
        &scripts::redis_dump(),
        &[
            ("HOST", "127.0.0.1"),
            ("PORT", &p),
            ("REDIS_PASSWORD_FILE", &bad),
            ("OUT", &dir.path().join("bad.rdb").display().to_string()),
        ],
    );
    assert!(!failed.status.success(), "{}", stdout(&failed));
    assert!(!stdout(&failed).contains("sha256"));
}

/// A scheduled backup's steps in order, as its Job runs them (`backup.schedule`):
/// the first names the backup from the clock, each dump writes into it, the last
/// marks it complete and keeps the newest `KEEP` complete scheduled backups, so
/// a failed run's leftovers go and a backup taken on demand stays.
#[test]
fn a_scheduled_backup_names_itself_and_keeps_the_newest() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let mk = |name: &str, marks: &[&str]| {
        std::fs::create_dir(r.join(name)).unwrap();
        std::fs::write(r.join(name).join("mysql.sql.gz"), "old").unwrap();
        for m in marks {
            std::fs::write(r.join(name).join(m), "").unwrap();
        }
    };
    mk("20260101-000000", &[]); // on demand
    mk("20260102-000000", &[".scheduled", ".complete"]);
    mk("20260103-000000", &[".scheduled", ".complete"]);
    mk("20260104-000000", &[".scheduled"]); // a run that failed
    let root_s = r.display().to_string();
    let state = tempfile::tempdir().unwrap();
    let name_file = state.path().join("backup-name").display().to_string();
    let result_file = state.path().join("termination-log");
    let named = run(
        &scripts::scheduled_name(),
        &[
            ("ROOT", &root_s),
            ("NAME_FILE", &name_file),
            ("RESULT_FILE", &result_file.display().to_string()),
        ],
    );
    assert!(named.status.success(), "{}", stderr(&named));
    let name = std::fs::read_to_string(&name_file).unwrap();
    assert_eq!(name.len(), "20261201-030000".len(), "{name:?}");
    assert!(
        name.as_str() > "20260104-000000",
        "{name} is the clock's, UTC"
    );
    assert_eq!(std::fs::read_to_string(&result_file).unwrap(), name);
    assert!(r.join(&name).join(".scheduled").exists());

    // A dump finds where to write from the name and its FILE.
    let dump = scripts::scheduled("set -eu\nprintf dumped > \"$OUT\"\n");
    let dumped = run(
        &dump,
        &[
            ("ROOT", &root_s),
            ("NAME_FILE", &name_file),
            ("FILE", "mysql.sql.gz"),
        ],
    );
    assert!(dumped.status.success(), "{}", stderr(&dumped));
    assert_eq!(
        std::fs::read_to_string(r.join(&name).join("mysql.sql.gz")).unwrap(),
        "dumped"
    );

    let kept = run(
        &scripts::keep_newest(),
        &[("ROOT", &root_s), ("NAME_FILE", &name_file), ("KEEP", "2")],
    );
    assert!(kept.status.success(), "{}", stderr(&kept));
    let mut left: Vec<String> = std::fs::read_dir(r)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["20260101-000000", "20260103-000000", name.as_str()],
        "{}",
        stdout(&kept)
    );
    assert!(r.join(&name).join(".complete").exists());
    assert!(stdout(&kept).contains("deleted scheduled backup 20260104-000000"));
}

/// The restore empties the running server and fills it from the RDB through a
/// server of its own on loopback (`MIGRATE`): every key of every database, TTLs
/// kept, keys made since the backup gone; the running server's append-only file
/// holds the result, so a restart keeps it.
#[test]
fn redis_restore_replaces_the_running_servers_data_and_survives_a_restart() {
    let Some((dir, data, port)) = redis_dirs() else {
        return;
    };
    let live_args = ["--requirepass", NASTY, "--appendonly", "yes"];
    let live = redis_server(&data, port, &live_args);
    let cli = |args: &[&str]| redis_cli(port, NASTY, args);
    cli(&["SET", "session:1", "ada", "EX", "3600"]);
    cli(&["HSET", "user:2", "name", "o'brien \\ \"x\""]);
    cli(&["SET", "key with spaces \"and quotes\"", "v"]);
    cli(&["-n", "3", "RPUSH", "queue", "a", "b", "c"]);
    for i in 0..250 {
        cli(&["SET", &format!("bulk:{i}"), &i.to_string()]);
    }
    let pw = password_file(dir.path(), NASTY);
    let out = dir.path().join("redis.rdb");
    let p = port.to_string();
    let env = [
        ("HOST", "127.0.0.1"),
        ("PORT", p.as_str()),
        ("REDIS_PASSWORD_FILE", pw.as_str()),
    ];
    let mut dump_env = env.to_vec();
    let out_s = out.display().to_string();
    dump_env.push(("OUT", &out_s));
    let v = result(&run(&scripts::redis_dump(), &dump_env), &out);

    // Changed since: a key gone, one new, one changed, a database emptied.
    cli(&["DEL", "session:1"]);
    cli(&["SET", "made:later", "x"]);
    cli(&["HSET", "user:2", "name", "changed"]);
    cli(&["-n", "3", "FLUSHDB"]);

    let source = free_port().to_string();
    let sha = v["sha256"].as_str().unwrap().to_string();
    let mut restore_env = env.to_vec();
    restore_env.extend([
        ("IN", out_s.as_str()),
        ("EXPECTED_SHA256", sha.as_str()),
        ("SOURCE_PORT", source.as_str()),
    ]);
    let restored = run(&scripts::redis_restore(), &restore_env);
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert!(
        stdout(&restored).contains("restored 254 keys"),
        "{}",
        stdout(&restored)
    );
    let check = |cli: &dyn Fn(&[&str]) -> String| {
        assert_eq!(cli(&["GET", "session:1"]), "ada\n");
        let ttl: i64 = cli(&["TTL", "session:1"]).trim().parse().unwrap();
        assert!((1..=3600).contains(&ttl), "TTL kept: {ttl}");
        assert_eq!(cli(&["HGET", "user:2", "name"]), "o'brien \\ \"x\"\n");
        assert_eq!(cli(&["GET", "key with spaces \"and quotes\""]), "v\n");
        assert_eq!(cli(&["EXISTS", "made:later"]), "0\n");
        assert_eq!(cli(&["GET", "bulk:249"]), "249\n");
        assert_eq!(cli(&["-n", "3", "LRANGE", "queue", "0", "-1"]), "a\nb\nc\n");
    };
    check(&cli);

    // From its append-only file, after a restart.
    drop(live);
    let _again = redis_server(&data, port, &live_args);
    check(&cli);

    // A file that is not the one recorded is refused before anything is touched.
    cli(&["SET", "made:later", "x"]);
    let mut wrong = restore_env.clone();
    wrong.retain(|(k, _)| *k != "EXPECTED_SHA256");
    let zeros = "0".repeat(64);
    wrong.push(("EXPECTED_SHA256", &zeros));
    let refused = run(&scripts::redis_restore(), &wrong);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("refusing to restore"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(cli(&["EXISTS", "made:later"]), "1\n");
}

/// An S3 service that checks every signature: moto's server (PyPI, pinned in
/// `.ci/run`) with authentication on after the three unsigned IAM calls that
/// make a user with `s3:*` and its access key. The key pair is returned.
struct S3Service {
    _server: Server,
    url: String,
    access_key: String,
    secret_key: String,
    _dir: tempfile::TempDir,
}

fn s3_service() -> Option<S3Service> {
    let moto = std::env::var_os("STACKCTL_MOTO_SERVER")
        .map(std::path::PathBuf::from)
        .or_else(|| which("moto_server"));
    let Some(moto) = moto.filter(|p| p.is_file()) else {
        let msg =
            "no moto_server: set STACKCTL_MOTO_SERVER (`.ci/run` installs moto[server] from PyPI)";
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(!ci, "{msg}");
        eprintln!("skipped: {msg}");
        return None;
    };
    if !have(&["curl", "sed", "awk", "tr", "grep", "sort"]) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = dir.path().join("moto.log");
    let mut child = Command::new(moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    wait_for_port(port, &mut child, &log);
    let url = format!("http://127.0.0.1:{port}");
    let iam = |form: &str| {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--fail-with-body",
                "--aws-sigv4",
                "aws:amz:us-east-1:iam",
            ])
            .args(["--user", "unchecked:yet", "-d"])
            .arg(format!("{form}&Version=2010-05-08"))
            .arg(&url)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        stdout(&out)
    };
    iam("Action=CreateUser&UserName=backup");
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    let encoded: String = policy
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    iam(&format!(
        "Action=PutUserPolicy&UserName=backup&PolicyName=s3&PolicyDocument={encoded}"
    ));
    let key = iam("Action=CreateAccessKey&UserName=backup");
    let field = |name: &str| {
        key.split(&format!("<{name}>"))
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap_or_else(|| panic!("no {name} in {key}"))
            .to_string()
    };
    Some(S3Service {
        _server: Server(child),
        access_key: field("AccessKeyId"),
        secret_key: field("SecretAccessKey"),
        url,
        _dir: dir,
    })
}

/// The S3 steps against a service that checks each signature: a backup's files
/// and its `.complete` go up encrypted (`AES256`), come back byte for byte, a
/// scheduled run keeps the newest complete scheduled backups and never touches
/// one taken on demand, a delete takes every object of a backup, and a wrong
/// secret key is refused with S3's own error.
#[test]
fn s3_steps_upload_download_keep_and_delete_with_signed_requests() {
    let Some(s3) = s3_service() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let creds = work.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("AWS_ACCESS_KEY_ID"), &s3.access_key).unwrap();
    std::fs::write(creds.join("AWS_SECRET_ACCESS_KEY"), &s3.secret_key).unwrap();
    let bucket = format!("{}/backups", s3.url);
    let creds_s = creds.display().to_string();
    let base = |extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        let mut e = vec![
            ("S3_URL", bucket.clone()),
            ("S3_REGION", "us-east-1".to_string()),
            ("S3_CREDENTIALS", creds_s.clone()),
            ("S3_SSE", "AES256".to_string()),
        ];
        e.extend(extra.iter().cloned());
        e
    };
    let go = |script: &str, env: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(script, &pairs)
    };
    // The bucket, as its owner would make it.
    let made = Command::new("curl")
        .args(["-sS", "--fail-with-body", "-X", "PUT", "--aws-sigv4", "aws:amz:us-east-1:s3"])
        .arg("--user")
        .arg(format!("{}:{}", s3.access_key, s3.secret_key))
        .args(["-H", "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"])
        .arg(&bucket)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stdout(&made));

    let prefix = "team/ns/rel/";
    let backup = work.path().join("20261201-010000");
    std::fs::create_dir(&backup).unwrap();
    let dump: Vec<u8> = (0..200_000u32).flat_map(u32::to_le_bytes).collect();
    std::fs::write(backup.join("mysql.sql.gz"), &dump).unwrap();
    std::fs::write(backup.join("redis.rdb"), "REDIS0011").unwrap();
    let key = format!("{prefix}20261201-010000/");
    let meta = r#"{"name":"20261201-010000","stack":"clickvisual","revision":3}"#;
    let up = go(
        &scripts::s3_upload(),
        base(&[
            ("DIR", backup.display().to_string()),
            ("KEY", key.clone()),
            ("BACKUP_META", meta.into()),
        ]),
    );
    assert!(up.status.success(), "{}", stderr(&up));
    assert!(stdout(&up).contains("uploaded 2 files"), "{}", stdout(&up));

    // Its manifest, as a restore without the record reads it: what stackctl
    // knew, and each file's size and checksum, computed where it was uploaded.
    let result_file = work.path().join("termination-log");
    let read = go(
        &scripts::s3_manifest(),
        base(&[
            ("KEY", key.clone()),
            ("RESULT_FILE", result_file.display().to_string()),
        ]),
    );
    assert!(read.status.success(), "{}", stderr(&read));
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&result_file).unwrap()).unwrap();
    assert_eq!(manifest["backup"]["revision"], 3, "{manifest}");
    let sums = Command::new("sha256sum")
        .arg(backup.join("mysql.sql.gz"))
        .output()
        .unwrap();
    let mysql = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == "mysql.sql.gz")
        .unwrap();
    assert_eq!(mysql["bytes"], dump.len());
    assert_eq!(
        mysql["sha256"],
        stdout(&sums).split(' ').next().unwrap(),
        "{manifest}"
    );
    assert_eq!(manifest["files"].as_array().unwrap().len(), 2, "{manifest}");

    // Back, into a fresh directory, byte for byte.
    let back = work.path().join("restore");
    let down = go(
        &scripts::s3_download(),
        base(&[
            ("DIR", back.display().to_string()),
            ("KEY", key.clone()),
            ("FILES", "mysql.sql.gz redis.rdb".into()),
        ]),
    );
    assert!(down.status.success(), "{}", stderr(&down));
    assert_eq!(std::fs::read(back.join("mysql.sql.gz")).unwrap(), dump);
    assert_eq!(
        std::fs::read_to_string(back.join("redis.rdb")).unwrap(),
        "REDIS0011"
    );

    // A wrong secret key: S3 refuses the signature, and the step fails saying so.
    let wrong = work.path().join("wrong");
    std::fs::create_dir(&wrong).unwrap();
    std::fs::write(wrong.join("AWS_ACCESS_KEY_ID"), &s3.access_key).unwrap();
    std::fs::write(wrong.join("AWS_SECRET_ACCESS_KEY"), "not-the-key").unwrap();
    let refused = go(
        &scripts::s3_download(),
        base(&[
            ("S3_CREDENTIALS", wrong.display().to_string()),
            ("DIR", back.display().to_string()),
            ("KEY", key.clone()),
            ("FILES", "redis.rdb".into()),
        ]),
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("SignatureDoesNotMatch"),
        "{}",
        stderr(&refused)
    );
    // A backup whose upload never finished is no backup to restore.
    let unfinished = go(
        &scripts::s3_download(),
        base(&[
            ("DIR", back.display().to_string()),
            ("KEY", format!("{prefix}20261201-020000/")),
            ("FILES", "redis.rdb".into()),
        ]),
    );
    assert!(!unfinished.status.success());
    assert!(stderr(&unfinished).contains("is not a complete backup"));

    // Scheduled runs: two complete and one unfinished before this one; keep 2.
    let keys = |p: &str| -> Vec<String> {
        let out = go(
            &format!("{}\nlist \"$P\" keys", scripts::s3_common_for_tests()),
            base(&[("P", p.to_string())]),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let mut v: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
        v.sort();
        v
    };
    let root = work.path().join("scheduled");
    for (name, marks) in [
        ("20261202-030000", &[".scheduled", ".complete"][..]),
        ("20261203-030000", &[".scheduled", ".complete"][..]),
        ("20261204-030000", &[".scheduled"][..]),
    ] {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("mysql.sql.gz"), name).unwrap();
        for m in marks {
            std::fs::write(d.join(m), "").unwrap();
        }
        // Uploaded as a run would, then the unfinished one loses its marker.
        let up = go(
            &scripts::s3_upload(),
            base(&[
                ("DIR", d.display().to_string()),
                ("KEY", format!("{prefix}{name}/")),
            ]),
        );
        assert!(up.status.success(), "{}", stderr(&up));
    }
    let gone = go(
        &format!("{}\ndel \"$K\"", scripts::s3_common_for_tests()),
        base(&[("K", format!("{prefix}20261204-030000/.complete"))]),
    );
    assert!(gone.status.success(), "{}", stderr(&gone));
    let name = "20261205-030000";
    std::fs::create_dir_all(root.join(name)).unwrap();
    std::fs::write(root.join(name).join(".scheduled"), "").unwrap();
    std::fs::write(root.join(name).join("mysql.sql.gz"), "new").unwrap();
    let name_file = work.path().join("backup-name");
    std::fs::write(&name_file, name).unwrap();
    let kept = go(
        &scripts::s3_keep_newest(),
        base(&[
            ("ROOT", root.display().to_string()),
            ("NAME_FILE", name_file.display().to_string()),
            ("KEY", prefix.to_string()),
            ("KEEP", "2".to_string()),
            ("BACKUP_META", r#"{"name":"@NAME@","revision":4}"#.into()),
        ]),
    );
    assert!(kept.status.success(), "{}", stderr(&kept));
    let left: Vec<String> = keys(prefix);
    let backups: std::collections::BTreeSet<&str> =
        left.iter().filter_map(|k| k.split('/').nth(3)).collect();
    assert_eq!(
        backups.into_iter().collect::<Vec<_>>(),
        ["20261201-010000", "20261203-030000", name],
        "on demand kept; newest 2 complete scheduled kept; older and unfinished gone:\n{}",
        stdout(&kept)
    );
    assert!(
        left.contains(&format!("{prefix}{name}/.complete")),
        "{left:?}"
    );
    assert!(
        left.contains(&format!("{prefix}{name}/mysql.sql.gz")),
        "{left:?}"
    );

    // Delete: every object of one backup, the others untouched.
    let deleted = go(&scripts::s3_delete(), base(&[("KEY", key.clone())]));
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    // The two files, SHA256SUMS, stackctl.json and .complete.
    assert!(
        stdout(&deleted).contains("deleted 5 objects"),
        "{}",
        stdout(&deleted)
    );
    assert!(keys(&key).is_empty());
    assert_eq!(keys(&format!("{prefix}{name}/")).len(), 5);
    // A scheduled backup's manifest has the name its first step chose.
    let read = go(
        &scripts::s3_manifest(),
        base(&[("KEY", format!("{prefix}{name}/"))]),
    );
    assert!(read.status.success(), "{}", stderr(&read));
    let manifest: Value = serde_json::from_str(stdout(&read).trim()).unwrap();
    assert_eq!(manifest["backup"]["name"], name, "{manifest}");
}

/// ClickHouse, against Debian's server (18.16, far older than the image's 24.8:
/// the component stays experimental): two databases with a MergeTree table, a
/// table a materialized view fills, and a Kafka table the dump must never read
/// (its broker does not exist: a `SELECT` would fail the dump); backed up,
/// changed, dropped, restored, compared; the view fills its table again after
/// the restore, once per row. A backup that cannot fit is refused before it
/// writes anything; a wrong password fails without a result line.
#[test]
fn clickhouse_dump_and_restore_bring_the_databases_back() {
    if !have(&[
        "clickhouse-server",
        "clickhouse-client",
        "gzip",
        "tar",
        "df",
        "sha256sum",
    ]) {
        return;
    }
    let ch = start_clickhouse();
    for q in [
        "CREATE DATABASE logger",
        "CREATE DATABASE metrics",
        "CREATE TABLE logger.app (ts DateTime, msg String) ENGINE = MergeTree ORDER BY ts",
        "CREATE TABLE logger.per_second (ts DateTime, n UInt64) ENGINE = SummingMergeTree ORDER BY ts",
        "CREATE MATERIALIZED VIEW logger.app_view TO logger.per_second AS SELECT ts, count() AS n FROM logger.app GROUP BY ts",
        "CREATE MATERIALIZED VIEW logger.per_msg ENGINE = SummingMergeTree ORDER BY msg AS SELECT msg, count() AS n FROM logger.app GROUP BY msg",
        // A view of a view whose name sorts after it: made in a second pass.
        "CREATE VIEW logger.v_msgs AS SELECT msg FROM logger.app",
        "CREATE VIEW logger.a_count AS SELECT count() AS c FROM logger.v_msgs",
        "CREATE TABLE logger.app_stream (msg String) ENGINE = Kafka SETTINGS kafka_broker_list = '127.0.0.1:1', kafka_topic_list = 'app', kafka_group_name = 'g', kafka_format = 'JSONEachRow'",
        "CREATE TABLE metrics.samples (name String, value Float64) ENGINE = Log",
        "CREATE TABLE metrics.bulk (n UInt64) ENGINE = MergeTree ORDER BY n",
        "INSERT INTO metrics.bulk SELECT sipHash64(number) FROM system.numbers LIMIT 200000",
        "CREATE TABLE default.notes (n UInt8) ENGINE = TinyLog",
        "INSERT INTO default.notes VALUES (7)",
        "CREATE DATABASE `we'ird\\\\db`",
        "CREATE TABLE `we'ird\\\\db`.`a b` (n UInt8) ENGINE = TinyLog",
        "INSERT INTO `we'ird\\\\db`.`a b` VALUES (3)",
        "INSERT INTO logger.app VALUES (1700000000, 'a\\ttab'), (1700000000, 'b \\' quote'), (1700000001, 'c')",
        "INSERT INTO metrics.samples VALUES ('up', 1), ('load', 0.5)",
    ] {
        ch.sql(q);
    }
    let state = |ch: &ClickHouse| {
        [
            "SELECT * FROM logger.app ORDER BY msg",
            "SELECT toUInt32(ts), sum(n) FROM logger.per_second GROUP BY ts ORDER BY ts",
            "SELECT msg, sum(n) FROM logger.per_msg GROUP BY msg ORDER BY msg",
            "SELECT * FROM logger.a_count",
            "SELECT * FROM metrics.samples ORDER BY name",
            "SELECT * FROM default.notes",
            "SELECT count(), sum(n) FROM metrics.bulk",
            "SELECT * FROM `we'ird\\\\db`.`a b`",
            "SELECT database, name, engine FROM system.tables WHERE database IN ('default', 'logger', 'metrics', 'we\\'ird\\\\db') ORDER BY database, name",
        ]
        .map(|q| ch.sql(q))
        .join("--\n")
    };
    let before = state(&ch);
    let before_views_rows =
        ch.sql("SELECT msg, sum(n) FROM logger.per_msg GROUP BY msg ORDER BY msg");
    assert!(before.contains("a\\ttab"), "{before}");
    assert!(
        before.contains("1700000000\t2"),
        "the view counted: {before}"
    );

    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), NASTY);
    let out = dir.path().join("20261201-030000").join("clickhouse.tar");
    let port = ch.port.to_string();
    let env = |password: &str, extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        let mut e = vec![
            ("NODES", format!("127.0.0.1:{port}")),
            ("REPLICAS", "1".to_string()),
            ("CLICKHOUSE_USER", "clickvisual".to_string()),
            ("CLICKHOUSE_PASSWORD_FILE", password.to_string()),
        ];
        e.extend(extra.iter().cloned());
        e
    };
    let run_with = |script: &str, e: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(script, &pairs)
    };
    let dumped = run_with(
        &scripts::clickhouse_dump(),
        env(&pw, &[("OUT", out.display().to_string())]),
    );
    let line = result(&dumped, &out);
    assert!(
        stdout(&dumped).contains("ClickHouse: 11 tables in 4 databases, the rows of 7"),
        "{}",
        stdout(&dumped)
    );
    assert!(!stdout(&dumped).contains(NASTY) && !stderr(&dumped).contains(NASTY));
    assert!(
        !out.with_extension("tar.d").exists(),
        "the work directory is gone"
    );

    // After the backup: rows added, a table dropped, a database made.
    for q in [
        "INSERT INTO logger.app VALUES (1700000002, 'since')",
        "DROP TABLE metrics.samples",
        "CREATE TABLE default.since (n UInt8) ENGINE = TinyLog",
        "CREATE DATABASE since",
    ] {
        ch.sql(q);
    }
    let refused = run_with(
        &scripts::clickhouse_restore(),
        env(
            &pw,
            &[
                ("IN", out.display().to_string()),
                ("EXPECTED_SHA256", "0".repeat(64)),
            ],
        ),
    );
    assert!(
        stderr(&refused).contains("refusing to restore"),
        "{}",
        stderr(&refused)
    );
    assert!(ch.sql("SELECT count() FROM logger.app") == "4\n");

    let restored = run_with(
        &scripts::clickhouse_restore(),
        env(
            &pw,
            &[
                ("IN", out.display().to_string()),
                ("EXPECTED_SHA256", line["sha256"].as_str().unwrap().into()),
            ],
        ),
    );
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert!(
        stdout(&restored).contains("restored 11 ClickHouse tables"),
        "{}",
        stdout(&restored)
    );
    assert_eq!(state(&ch), before, "each database as it was");
    assert_eq!(
        ch.sql("SELECT count() FROM system.databases WHERE name = 'since'"),
        "1\n",
        "a database made since the backup is left alone"
    );

    // A backup taken before archives had servers (its one server's files at
    // the top, four columns a table) restores as that server's.
    let legacy = dir.path().join("legacy");
    std::fs::create_dir(&legacy).unwrap();
    let sh = |script: &str| {
        let ok = Command::new("sh")
            .args(["-euc", script])
            .current_dir(&legacy)
            .status()
            .unwrap();
        assert!(ok.success(), "{script}");
    };
    sh(&format!(
        "tar -xf '{}' && rm servers && mv 0/* . && rmdir 0 && cut -f 1-4 tables > t && mv t tables && \
         tar -cf ../legacy.tar . && sha256sum ../legacy.tar | cut -d ' ' -f 1 > ../legacy.sum",
        out.display()
    ));
    ch.sql("INSERT INTO logger.app VALUES (1700000003, 'since, again')");
    let sum = std::fs::read_to_string(dir.path().join("legacy.sum")).unwrap();
    let restored = run_with(
        &scripts::clickhouse_restore(),
        env(
            &pw,
            &[
                ("IN", dir.path().join("legacy.tar").display().to_string()),
                ("EXPECTED_SHA256", sum.trim().to_string()),
            ],
        ),
    );
    assert!(restored.status.success(), "{}", stderr(&restored));
    // Such a backup never held a view's own rows: the view comes back empty.
    let views_rows = ch.sql("SELECT msg, sum(n) FROM logger.per_msg GROUP BY msg ORDER BY msg");
    assert!(views_rows.is_empty(), "{views_rows}");
    let per_msg = before_views_rows.as_str();
    assert_eq!(
        state(&ch),
        before.replacen(per_msg, "", 1),
        "the old layout, as it was"
    );
    // The view is back and fills its table once per row.
    ch.sql("INSERT INTO logger.app VALUES (1700000005, 'after')");
    assert_eq!(
        ch.sql("SELECT sum(n) FROM logger.per_second WHERE ts = 1700000005"),
        "1\n"
    );
    assert_eq!(
        ch.sql("SELECT sum(n) FROM logger.per_msg WHERE msg = 'after'"),
        "1\n"
    );

    // No room: refused before anything is written.
    let small = tempfile::tempdir().unwrap();
    let tiny = small.path().join("tiny");
    std::fs::create_dir(&tiny).unwrap();
    let mount = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&tiny)
        .status();
    if mount.is_ok_and(|s| s.success()) {
        let full = run_with(
            &scripts::clickhouse_dump(),
            env(
                &pw,
                &[("OUT", tiny.join("b/clickhouse.tar").display().to_string())],
            ),
        );
        let _ = Command::new("umount").arg(&tiny).status();
        assert!(!full.status.success());
        assert!(
            stderr(&full).contains("not enough space for ClickHouse's backup"),
            "{}",
            stderr(&full)
        );
        assert!(!stdout(&full).contains("sha256"));
    } else {
        eprintln!("skipped the capacity check: mounting a tmpfs needs root");
    }

    // To S3 the dumps go to a scratch directory whose limit `df` does not see:
    // the room left under it counts.
    let scratch = small.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let cramped = run_with(
        &scripts::clickhouse_dump(),
        env(
            &pw,
            &[
                (
                    "OUT",
                    scratch.join("b/clickhouse.tar").display().to_string(),
                ),
                ("ROOM", "65536".into()),
                ("SCRATCH", scratch.display().to_string()),
            ],
        ),
    );
    assert!(
        stderr(&cramped).contains("not enough space for ClickHouse's backup"),
        "{}",
        stderr(&cramped)
    );
    // A name the lists cannot hold: refused, naming it.
    ch.sql("CREATE TABLE metrics.`tab\there` (n UInt8) ENGINE = TinyLog");
    let odd = run_with(
        &scripts::clickhouse_dump(),
        env(
            &pw,
            &[(
                "OUT",
                dir.path().join("odd/clickhouse.tar").display().to_string(),
            )],
        ),
    );
    assert!(!odd.status.success());
    assert!(
        stderr(&odd).contains(
            "cannot name metrics.tab\\there on 127.0.0.1: a tab or a line break in a name"
        ),
        "{}",
        stderr(&odd)
    );
    ch.sql("DROP TABLE metrics.`tab\there`");
    let bad = password_file(small.path(), "wrong");
    let failed = run_with(
        &scripts::clickhouse_dump(),
        env(
            &bad,
            &[(
                "OUT",
                dir.path().join("bad/clickhouse.tar").display().to_string(),
            )],
        ),
    );
    assert!(!failed.status.success());
    assert!(!stdout(&failed).contains("sha256"), "{}", stdout(&failed));
}

/// ClickHouse as the `production` profile runs it, shards of replicas (two of
/// two here, with ZooKeeper where the image has its Keeper): each server's
/// statements, a replicated table's rows once per shard (the first replica's,
/// after it fetched an insert made on the other), a plain table's from every
/// server. Backed up, changed on every server, restored: every server as it
/// was, each replica holding its shard's rows again (so the Distributed table
/// counts every row once), the view filling its table once per row. A restore
/// into another shape is refused before anything is dropped.
#[test]
fn clickhouse_shards_of_replicas_come_back_on_every_server() {
    if !have(&[
        "clickhouse-server",
        "clickhouse-client",
        "gzip",
        "tar",
        "sha256sum",
    ]) || !have_zookeeper()
    {
        return;
    }
    let zk = start_zookeeper();
    let servers = start_clickhouse_cluster(2, 2, &zk);
    for (k, ch) in servers.iter().enumerate() {
        for q in [
            "CREATE DATABASE logs",
            "CREATE TABLE logs.app (ts DateTime, msg String) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/logs/app', '{replica}') ORDER BY ts",
            "CREATE TABLE logs.per_second (ts DateTime, n UInt64) ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/logs/per_second', '{replica}') ORDER BY ts",
            "CREATE MATERIALIZED VIEW logs.app_view TO logs.per_second AS SELECT ts, count() AS n FROM logs.app GROUP BY ts",
            "CREATE MATERIALIZED VIEW logs.per_msg ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/logs/per_msg', '{replica}') ORDER BY msg AS SELECT msg, count() AS n FROM logs.app GROUP BY msg",
            "CREATE TABLE logs.app_all AS logs.app ENGINE = Distributed(clickvisual, logs, app, rand())",
            "CREATE TABLE logs.server (k UInt8) ENGINE = MergeTree ORDER BY k",
            // One Keeper path for every server: the same rows everywhere.
            "CREATE TABLE logs.everywhere (n UInt8) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/logs/everywhere', '{shard}-{replica}') ORDER BY n",
        ] {
            ch.sql(q);
        }
        ch.sql(&format!("INSERT INTO logs.server VALUES ({k})"));
    }
    servers[2].sql("INSERT INTO logs.everywhere VALUES (1), (2)");
    // On shard 1's second replica alone: its rows are that server's to give.
    servers[1].sql(
        "CREATE TABLE logs.only_here (n UInt8) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/logs/only_here', '{replica}') ORDER BY n",
    );
    servers[1].sql("INSERT INTO logs.only_here VALUES (5)");
    // Shard 1 through its first replica; shard 2 through its second, while
    // its first fetches nothing: it has the rows only once the backup makes
    // it fetch them, after fetching starts again just before.
    servers[0].sql("INSERT INTO logs.app VALUES (1700000000, 'a'), (1700000000, 'b')");
    servers[2].sql("SYSTEM STOP FETCHES logs.app");
    servers[3].sql("INSERT INTO logs.app VALUES (1700000001, 'c')");
    assert_eq!(servers[2].sql("SELECT count() FROM logs.app"), "0\n");
    let state = |servers: &[ClickHouse]| -> Vec<String> {
        servers
            .iter()
            .map(|ch| {
                [
                    "SELECT toUInt32(ts), msg FROM logs.app ORDER BY msg",
                    "SELECT toUInt32(ts), sum(n) FROM logs.per_second GROUP BY ts ORDER BY ts",
                    "SELECT msg, sum(n) FROM logs.per_msg GROUP BY msg ORDER BY msg",
                    "SELECT * FROM logs.server ORDER BY k",
                    "SELECT * FROM logs.everywhere ORDER BY n",
                    "SELECT count() FROM logs.app_all",
                    "SELECT name, engine FROM system.tables WHERE database = 'logs' ORDER BY name",
                ]
                .map(|q| ch.sql(q))
                .join("--\n")
            })
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), NASTY);
    let out = dir.path().join("b").join("clickhouse.tar");
    let nodes = |servers: &[ClickHouse]| {
        servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let env = |nodes: String, replicas: &str, extra: &[(&'static str, String)]| {
        let mut e = vec![
            ("NODES", nodes),
            ("REPLICAS", replicas.to_string()),
            ("CLICKHOUSE_USER", "clickvisual".to_string()),
            ("CLICKHOUSE_PASSWORD_FILE", pw.clone()),
        ];
        e.extend(extra.iter().cloned());
        e
    };
    let run_with = |script: &str, e: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(script, &pairs)
    };
    servers[2].sql("SYSTEM START FETCHES logs.app");
    let dumped = run_with(
        &scripts::clickhouse_dump(),
        env(nodes(&servers), "2", &[("OUT", out.display().to_string())]),
    );
    let line = result(&dumped, &out);
    // Nothing written since: the state the backup holds.
    for ch in &servers {
        ch.sql("SYSTEM SYNC REPLICA logs.app");
        ch.sql("SYSTEM SYNC REPLICA logs.per_second");
        ch.sql("SYSTEM SYNC REPLICA logs.`.inner.per_msg`");
        ch.sql("SYSTEM SYNC REPLICA logs.everywhere");
    }
    let before = state(&servers);
    assert!(
        before.iter().all(|s| s.contains("--\n1\n2\n--")),
        "{before:?}"
    );
    assert!(before[1].contains("\tb\n"), "replicated: {}", before[1]);
    assert!(before[2].contains("\tc\n") && !before[2].contains("\ta\n"));
    assert!(before[3].starts_with("1700000001\tc\n"), "{}", before[3]);
    // 7 tables and 2 databases (`default` too) a server, and `only_here`;
    // rows: `logs.server` of each, four tables (a view's own) of each shard
    // from its first replica, `everywhere` once, `only_here` from the one
    // server that has it.
    assert!(
        stdout(&dumped).contains(
            "ClickHouse: 4 servers (2 shards of 2 replicas), 29 tables in 8 databases, the rows of 12"
        ),
        "{}",
        stdout(&dumped)
    );
    let listing = Command::new("tar").arg("-tf").arg(&out).output().unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert_eq!(listing.matches(".native.gz").count(), 12, "{listing}");

    // After the backup, on every server: rows added to both shards, a plain
    // table changed, a replica's view dropped.
    servers[0].sql("INSERT INTO logs.app VALUES (1700000002, 'since')");
    servers[2].sql("INSERT INTO logs.app VALUES (1700000002, 'since too')");
    for ch in &servers {
        ch.sql("INSERT INTO logs.server VALUES (9)");
    }
    servers[3].sql("DROP TABLE logs.app_view");
    servers[1].sql("INSERT INTO logs.only_here VALUES (6)");
    let changed = state(&servers);
    assert_ne!(changed, before);

    let restore = |nodes: String, replicas: &str| {
        run_with(
            &scripts::clickhouse_restore(),
            env(
                nodes,
                replicas,
                &[
                    ("IN", out.display().to_string()),
                    ("EXPECTED_SHA256", line["sha256"].as_str().unwrap().into()),
                ],
            ),
        )
    };
    // One shard of two replicas: refused, nothing dropped.
    let refused = restore(nodes(&servers[..2]), "2");
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains(
            "it holds 2 ClickHouse shards of 2 replicas, and the release runs 1 of 2; restore it into a release with clickhouse.shards=2 and clickhouse.replicas=2"
        ),
        "{}",
        stderr(&refused)
    );
    assert_eq!(state(&servers), changed);

    let restored = restore(nodes(&servers), "2");
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert!(
        stdout(&restored).contains("restored 29 ClickHouse tables"),
        "{}",
        stdout(&restored)
    );
    // No waiting here: the restore returns once every replica has its rows.
    assert_eq!(state(&servers), before, "every server as it was");
    assert_eq!(servers[1].sql("SELECT * FROM logs.only_here"), "5\n");
    // The view is back on each replica, filling its shard's table once a row.
    servers[1].sql("INSERT INTO logs.app VALUES (1700000005, 'after')");
    servers[0].sql("SYSTEM SYNC REPLICA logs.per_second");
    servers[0].sql("SYSTEM SYNC REPLICA logs.`.inner.per_msg`");
    assert_eq!(
        servers[0].sql("SELECT sum(n) FROM logs.per_second WHERE ts = 1700000005"),
        "1\n"
    );
    assert_eq!(
        servers[0].sql("SELECT sum(n) FROM logs.per_msg WHERE msg = 'after'"),
        "1\n"
    );
}

/// `sqlite3` on `db` with `sql` on stdin; its stdout. A `.system kill -9 $PPID`
/// line kills this very `sqlite3` mid-transaction (the shell's parent), as a
/// writer that never stops cleanly would die.
fn sqlite(db: &Path, sql: &str) -> Output {
    let mut child = Command::new("sqlite3")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn sqlite_ok(db: &Path, sql: &str) -> String {
    let out = sqlite(db, sql);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// Leaves a hot rollback journal beside `db`: a transaction big enough to spill
/// changed pages into the file (a one-page cache) before its writer is killed.
fn crash_mid_transaction(db: &Path, title: &str) {
    let out = sqlite(
        db,
        &format!(
            "PRAGMA cache_size=1;\nBEGIN;\nUPDATE dashboard SET title = '{title}', data = data || data;\n.system kill -9 $PPID\nCOMMIT;\n"
        ),
    );
    assert!(!out.status.success(), "the writer was to die");
    let journal = db.with_file_name("grafana.db-journal");
    assert!(
        std::fs::metadata(&journal).is_ok_and(|m| m.len() > 0),
        "no hot journal left"
    );
}

/// Grafana's database (`sqlite_dump` / `sqlite_restore`), against Debian's
/// SQLite 3: a database whose last writer died mid-transaction is backed up
/// with its hot journal (the file alone holds half a transaction); the restore
/// replaces a changed database that has a hot journal of its own, and SQLite
/// opens the result as the database was before either crash. What a pass does
/// not prove: Grafana itself (not in Debian) and BusyBox's `tar`/`head` (GNU's
/// here).
#[test]
fn sqlite_copy_and_restore_keep_a_crashed_writers_journal_and_drop_a_stale_one() {
    if !have(&["sqlite3", "sh", "tar", "gzip", "sha256sum", "head"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let db = data.join("grafana.db");
    sqlite_ok(
        &db,
        "CREATE TABLE dashboard (id INTEGER PRIMARY KEY, title TEXT NOT NULL, data TEXT NOT NULL);
         CREATE TABLE data_source (id INTEGER PRIMARY KEY, name TEXT UNIQUE, url TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
           INSERT INTO dashboard SELECT i, 'board ' || i, hex(randomblob(200)) FROM n;
         INSERT INTO data_source (name, url) VALUES ('Prometheus', 'http://p:9090'), ('ES', 'https://e:9200');",
    );
    let original = sqlite_ok(&db, ".dump");
    crash_mid_transaction(&db, "half done");
    // The file alone is not the database: it holds part of the dead transaction.
    let alone = dir.path().join("alone");
    std::fs::create_dir(&alone).unwrap();
    std::fs::copy(&db, alone.join("grafana.db")).unwrap();
    let half = sqlite(&alone.join("grafana.db"), ".dump");
    assert!(stdout(&half) != original, "the spill reached the file");

    let out = dir.path().join("backups/b1/grafana.tar.gz");
    let (data_env, gid) = (data.display().to_string(), gid());
    // The script with the Job's `DATA`, `DB` and `DATA_GROUP`, and `extra`.
    let call = |script: &str, extra: &[(&str, &str)]| {
        let mut e = vec![("DATA", data_env.as_str()), ("DB", "grafana.db")];
        e.push(("DATA_GROUP", gid.as_str()));
        e.extend_from_slice(extra);
        run(script, &e)
    };
    let b1 = out.display().to_string();
    let dumped = call(&scripts::sqlite_dump(), &[("OUT", &b1)]);
    let r = result(&dumped, &out);
    let listed = Command::new("tar").arg("-tzf").arg(&out).output().unwrap();
    assert_eq!(stdout(&listed), "grafana.db\ngrafana.db-journal\n");

    // Grafana comes back (SQLite rolls the journal back), and works on.
    assert_same(&db, &original);
    sqlite_ok(
        &db,
        "DELETE FROM dashboard WHERE id % 2 = 0; INSERT INTO data_source (name) VALUES ('new');",
    );
    crash_mid_transaction(&db, "stale");

    // A wrong checksum is refused before anything changes.
    let before = std::fs::read(&db).unwrap();
    let zeros = "0".repeat(64);
    let refused = call(
        &scripts::sqlite_restore(),
        &[("IN", &b1), ("EXPECTED_SHA256", &zeros)],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("refusing to restore"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);

    let restored = call(
        &scripts::sqlite_restore(),
        &[
            ("IN", &b1),
            ("EXPECTED_SHA256", r["sha256"].as_str().unwrap()),
        ],
    );
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert!(
        stdout(&restored).contains("restored grafana.db"),
        "{}",
        stdout(&restored)
    );
    assert!(
        !data.join(".stackctl-restore").exists(),
        "the work directory is gone"
    );
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "the component's group reads and writes it");
    // Opened, the backup's own journal rolls back: the database as it was
    // before either crash, whole.
    assert_same(&db, &original);
    assert_eq!(sqlite_ok(&db, "PRAGMA integrity_check;"), "ok\n");
    assert!(!data.join("grafana.db-journal").exists());

    // A clean backup (no journal of its own) restored over a database with a
    // hot journal: that journal goes, or SQLite would roll its pages into the
    // restored file.
    let b2 = dir.path().join("backups/b2/grafana.tar.gz");
    let b2_path = b2.display().to_string();
    let r2 = result(&call(&scripts::sqlite_dump(), &[("OUT", &b2_path)]), &b2);
    sqlite_ok(&db, "DELETE FROM dashboard WHERE id > 100;");
    crash_mid_transaction(&db, "stale again");
    let restored = call(
        &scripts::sqlite_restore(),
        &[
            ("IN", &b2_path),
            ("EXPECTED_SHA256", r2["sha256"].as_str().unwrap()),
        ],
    );
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert_same(&db, &original);
    assert_eq!(sqlite_ok(&db, "PRAGMA integrity_check;"), "ok\n");

    // No database, or not one: refused with what is wrong.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (empty_env, x) = (
        empty.display().to_string(),
        dir.path().join("x/g.tar.gz").display().to_string(),
    );
    let refused = |why: &str| {
        let out = run(
            &scripts::sqlite_dump(),
            &[("DATA", &empty_env), ("DB", "grafana.db"), ("OUT", &x)],
        );
        assert!(!out.status.success());
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
    };
    refused("there is no");
    std::fs::write(empty.join("grafana.db"), "not a database at all").unwrap();
    refused("is not an SQLite database");
}

/// `db`'s content is `original` (`.dump`'s text), said shortly when not.
fn assert_same(db: &Path, original: &str) {
    let now = sqlite_ok(db, ".dump");
    let titles = sqlite(db, "SELECT count(*), count(DISTINCT title) FROM dashboard;");
    assert!(
        now == original,
        "the database is not the original: dashboards (count, titles) {}",
        stdout(&titles).trim()
    );
}

/// This process's group, as `DATA_GROUP` (the component's group in a Job).
fn gid() -> String {
    let out = Command::new("id").arg("-g").output().unwrap();
    stdout(&out).trim().to_string()
}

/// A Prometheus on loopback over `data`, scraping itself every second; ready.
fn prometheus(dir: &Path, data: &Path, port: u16) -> Server {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs: [{{job_name: self, static_configs: [{{targets: ['127.0.0.1:{port}']}}]}}]\n"
        ),
    )
    .unwrap();
    let log = dir.join("prometheus.log");
    let mut child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for_port(port, &mut child, &log);
    let server = Server(child);
    for _ in 0..600 {
        let ready = Command::new("curl")
            .args(["-sf", &format!("http://127.0.0.1:{port}/-/ready")])
            .output()
            .unwrap();
        if ready.status.success() {
            return server;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "Prometheus never got ready: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// The instant vector `query` at `time` (Unix seconds) answers.
fn prom_query(port: u16, query: &str, time: u64) -> Vec<Value> {
    let out = Command::new("curl")
        .args([
            "-sf",
            "-G",
            &format!("http://127.0.0.1:{port}/api/v1/query"),
        ])
        .args(["--data-urlencode", &format!("query={query}")])
        .args(["--data-urlencode", &format!("time={time}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["data"]["result"].as_array().unwrap().clone()
}

/// Stops Prometheus as the kubelet does (SIGTERM), and waits.
fn stop(mut server: Server) {
    let pid = server.0.id().to_string();
    Command::new("kill").arg(&pid).status().unwrap();
    server.0.wait().unwrap();
}

/// A TSDB block of `metric` (31 samples a minute apart from `start`, values 42
/// on) in `data`, made by `promtool` as a backfill does.
fn block(dir: &Path, data: &Path, metric: &str, start: u64) {
    let mut om = format!("# HELP {metric} Rows.\n# TYPE {metric} gauge\n");
    for i in 0..31 {
        om.push_str(&format!(
            "{metric}{{db=\"a\"}} {} {}\n",
            42 + i,
            start + i * 60
        ));
    }
    om.push_str("# EOF\n");
    let input = dir.join(format!("{metric}.om"));
    std::fs::write(&input, om).unwrap();
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Prometheus' TSDB (`volume_dump` / `volume_restore`), against Debian's
/// Prometheus and promtool: a backfilled block and the write-ahead log of a few
/// seconds of scraping are backed up from a stopped server; the volume is then
/// emptied and given another block; the restore brings back the first block and
/// the scraped samples, and only them. The room checks: a scratch directory too
/// small for the backup, a volume too small for both copies (the current files
/// go first), a volume too small for the backup (refused, nothing changed).
/// What a pass does not prove: the image's Prometheus 3.4.1 and BusyBox.
#[test]
fn volume_copy_and_restore_bring_a_prometheus_tsdb_back() {
    if !have(&[
        "prometheus",
        "promtool",
        "curl",
        "sh",
        "tar",
        "gzip",
        "du",
        "df",
    ]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let start = now - 3 * 3600;
    block(dir.path(), &data, "backup_test_rows", start);
    let port = free_port();
    let live = prometheus(dir.path(), &data, port);
    let scraped = loop {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        if !prom_query(port, "up", t).is_empty() {
            break t;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    let at = start + 60;
    assert_eq!(
        prom_query(port, "backup_test_rows", at)[0]["value"][1],
        "43"
    );
    stop(live);

    let (data_env, gid) = (data.display().to_string(), gid());
    let call = |script: &str, extra: &[(&str, &str)]| {
        let mut e = vec![("DATA", data_env.as_str()), ("WHAT", "prometheus")];
        e.push(("DATA_GROUP", gid.as_str()));
        e.extend_from_slice(extra);
        run(script, &e)
    };
    let out = dir.path().join("backups/b1/prometheus.tar.gz");
    let b1 = out.display().to_string();
    let dumped = call(&scripts::volume_dump(), &[("OUT", &b1)]);
    let r = result(&dumped, &out);
    assert!(
        stdout(&dumped).contains("prometheus: about"),
        "{}",
        stdout(&dumped)
    );
    let sha = r["sha256"].as_str().unwrap().to_string();

    // Another TSDB in its place.
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::create_dir(&data).unwrap();
    block(dir.path(), &data, "other_rows", start);
    std::fs::create_dir(data.join("lost+found")).unwrap();

    let restored = call(
        &scripts::volume_restore(),
        &[("IN", &b1), ("EXPECTED_SHA256", &sha)],
    );
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert!(
        data.join("lost+found").is_dir(),
        "the filesystem's own stays"
    );
    assert!(!data.join(".stackctl-restore").exists());
    let live = prometheus(dir.path(), &data, port);
    assert_eq!(
        prom_query(port, "backup_test_rows", at)[0]["value"][1],
        "43"
    );
    assert!(
        prom_query(port, "other_rows", at).is_empty(),
        "only the backup's"
    );
    assert!(
        !prom_query(port, "up", scraped).is_empty(),
        "the scraped samples came back from the write-ahead log"
    );
    stop(live);

    // To S3 the backup goes through a scratch directory whose limit `df` does
    // not see.
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let scratch_env = scratch.display().to_string();
    let cramped_out = scratch.join("b/prometheus.tar.gz").display().to_string();
    let cramped = call(
        &scripts::volume_dump(),
        &[
            ("OUT", &cramped_out),
            ("ROOM", "4096"),
            ("SCRATCH", &scratch_env),
        ],
    );
    assert!(!cramped.status.success());
    assert!(
        stderr(&cramped).contains("not enough space for the backup of prometheus"),
        "{}",
        stderr(&cramped)
    );

    // A volume with room for the backup but not for both copies: the current
    // files go first. One without room for the backup: refused, untouched.
    let mounted = |path: &Path, kib: u64| {
        std::fs::create_dir_all(path).unwrap();
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success())
    };
    // What the unpacked files take on a filesystem (small files take whole
    // pages): the tmpfs holds twice that; the old files leave half of it free.
    let unpacked_kib: u64 = stdout(&run(
        &format!("d=$(mktemp -d) && tar -xzf {b1} -C \"$d\" && du -sk \"$d\" | cut -f 1"),
        &[],
    ))
    .trim()
    .parse()
    .unwrap();
    let tight = dir.path().join("tight");
    let tight_kib = unpacked_kib * 2 + 16;
    // The restore of the backup into the volume at `path`.
    let restore_into = |path: &Path| {
        let path = path.display().to_string();
        run(
            &scripts::volume_restore(),
            &[
                ("DATA", &path),
                ("WHAT", "prometheus"),
                ("DATA_GROUP", &gid),
                ("IN", &b1),
                ("EXPECTED_SHA256", &sha),
            ],
        )
    };
    if mounted(&tight, tight_kib) {
        let filler = tight.join("old");
        let old = tight_kib * 1024 - unpacked_kib * 512;
        std::fs::write(&filler, vec![7u8; usize::try_from(old).unwrap()]).unwrap();
        let replaced = restore_into(&tight);
        let listing = std::fs::read_dir(&tight).unwrap().count();
        let _ = Command::new("umount").arg(&tight).status();
        assert!(replaced.status.success(), "{}", stderr(&replaced));
        assert!(
            stdout(&replaced).contains("removing them first"),
            "{}",
            stdout(&replaced)
        );
        assert!(listing >= 3, "the TSDB's files are there");

        let small = dir.path().join("small");
        assert!(mounted(&small, 16));
        std::fs::write(small.join("old"), b"current").unwrap();
        let refused = restore_into(&small);
        let kept = std::fs::read(small.join("old")).unwrap();
        let _ = Command::new("umount").arg(&small).status();
        assert!(!refused.status.success());
        assert!(
            stderr(&refused).contains("prometheus's volume is too small for this backup"),
            "{}",
            stderr(&refused)
        );
        assert_eq!(kept, b"current");
    } else {
        eprintln!("skipped the volume room checks: mounting a tmpfs needs root");
    }
}

/// `sh -c UPLOAD_SCRIPT upload BYTES PATH`, fed `input` on stdin.
fn upload(bytes: usize, path: &Path, input: &[u8]) -> Output {
    let mut child = Command::new("sh")
        .args(["-c", stackctl::stacks::backup_jobs::UPLOAD_SCRIPT, "upload"])
        .arg(bytes.to_string())
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The script stops reading after BYTES: a refused write is fine.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

/// The upload step (`backup upload`'s exec) with Debian's dash and coreutils:
/// exactly BYTES bytes land under the name (stdin is never closed on
/// Kubernetes before 1.29, so it must not wait for the end), through a `.part`
/// that a cut stream leaves no file of.
#[test]
fn the_upload_step_writes_exactly_the_length_it_is_given() {
    if !have(&["sh", "head", "wc", "mv"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..200_000u32).flat_map(u32::to_le_bytes).collect();
    let path = dir.path().join("b1/mysql.sql.gz");
    let out = upload(
        body.len(),
        &path,
        &[body.as_slice(), b"more than asked"].concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert!(!dir.path().join("b1/mysql.sql.gz.part").exists());

    let cut = dir.path().join("b1/redis.rdb");
    let out = upload(body.len(), &cut, &body[..1000]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "only 1000 of {} bytes of redis.rdb arrived",
            body.len()
        )),
        "{}",
        stderr(&out)
    );
    assert!(!cut.exists() && !dir.path().join("b1/redis.rdb.part").exists());
}

/// The Elasticsearch stand-in (`tests/local/es_standin.py`) on `port`.
fn es_standin(dir: &Path, port: u16, repo: &Path, password: &str) -> Server {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/local/es_standin.py");
    let log = dir.join("es.log");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(repo)
        .arg(password)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for_port(port, &mut child, &log);
    Server(child)
}

fn es(port: u16, method: &str, path: &str, body: &Value) -> Value {
    let out = Command::new("curl")
        .args(["-sS", "--fail-with-body", "-X", method])
        .args(["-u", &format!("elastic:{NASTY}")])
        .args([
            "-H",
            "Content-Type: application/json",
            "-d",
            &body.to_string(),
        ])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{method} {path}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every index of the stand-in with its documents.
fn es_indices(port: u16) -> Value {
    es(port, "GET", "/_standin/state", &Value::Null)["indices"].clone()
}

fn put_index(port: u16, name: &str, docs: &[&str], extra: &Value) {
    let mut body = serde_json::json!({"docs": docs});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    es(port, "PUT", &format!("/{name}"), &body);
}

/// The snapshot scripts against a stand-in of Elasticsearch's snapshot API
/// (Elasticsearch is not in Debian): the requests, their order, the copy of the
/// repository and what a restore deletes and keeps. A log index and a data
/// stream are snapshotted with Kibana's and security's feature states, changed,
/// and restored: the backup's documents back, an index made since kept,
/// Kibana's state the backup's, security's the cluster's own (its passwords
/// are the release's). The stand-in reads snapshots back from the repository's
/// files, so the copy must carry them whole. What a pass does not prove: that
/// Elasticsearch 8.19 answers as the stand-in does (its behaviour is modelled
/// on the API specification and docs it cites), nor the image's tools.
#[test]
fn elasticsearch_snapshot_scripts_copy_the_repository_and_restore_indices_and_features() {
    if !have(&[
        "python3", "curl", "sh", "tar", "gzip", "du", "df", "awk", "paste",
    ]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("snapshots");
    std::fs::create_dir(&repo).unwrap();
    let password = password_file(dir.path(), NASTY);
    let port = free_port();
    let _es = es_standin(dir.path(), port, &repo, &password);
    let none = Value::Null;
    put_index(port, "logs-2026.12.01", &["a", "b", "c"], &none);
    // Dot-prefixed, not a feature's: `*` alone would match it in a restore.
    put_index(port, ".logs-deprecation", &["old"], &none);
    let stream = serde_json::json!({"stream": "logs-app"});
    put_index(port, ".ds-logs-app-000001", &["x", "y"], &stream);
    put_index(
        port,
        ".kibana_1",
        &["dashboard A"],
        &serde_json::json!({"feature": "kibana"}),
    );
    put_index(
        port,
        ".security-7",
        &["elastic: pw1"],
        &serde_json::json!({"feature": "security"}),
    );

    let (url, data, gid) = (
        format!("http://127.0.0.1:{port}"),
        repo.display().to_string(),
        gid(),
    );
    let call = |script: &str, extra: &[(&str, &str)]| {
        let mut e = vec![
            ("URL", url.as_str()),
            ("PASSWORD_FILE", password.as_str()),
            ("DATA", data.as_str()),
            ("DATA_GROUP", gid.as_str()),
            ("WHAT", "elasticsearch"),
            ("REPOSITORY", "stackctl"),
            ("SNAPSHOT", "stackctl-backup"),
        ];
        e.extend_from_slice(extra);
        run(script, &e)
    };
    let out = dir.path().join("backups/b1/elasticsearch.tar.gz");
    let b1 = out.display().to_string();
    let dumped = call(&scripts::elasticsearch_dump(), &[("OUT", &b1)]);
    let r = result(&dumped, &out);
    assert!(
        stdout(&dumped).contains("elasticsearch: about"),
        "{}",
        stdout(&dumped)
    );
    let sha = r["sha256"].as_str().unwrap().to_string();
    // The copy holds the snapshot; the repository no longer does.
    let listed = Command::new("tar").args(["-tzf", &b1]).output().unwrap();
    assert!(
        stdout(&listed).contains("snap-stackctl-backup.json"),
        "{}",
        stdout(&listed)
    );
    assert!(!repo.join("snap-stackctl-backup.json").exists());
    // A second backup: the name is free again.
    let b2 = dir.path().join("backups/b2/elasticsearch.tar.gz");
    let again = call(
        &scripts::elasticsearch_dump(),
        &[("OUT", b2.to_str().unwrap())],
    );
    result(&again, &b2);

    // Changed since: a document more in an index and in the data stream, a
    // new index, Kibana's saved objects and the elastic password changed.
    put_index(port, "logs-2026.12.01", &["a", "b", "c", "d"], &none);
    put_index(port, ".ds-logs-app-000001", &["x", "y", "z"], &stream);
    put_index(port, "logs-2026.12.02", &["new"], &none);
    put_index(port, ".logs-deprecation", &["old", "newer"], &none);
    put_index(
        port,
        ".kibana_1",
        &["dashboard B"],
        &serde_json::json!({"feature": "kibana"}),
    );
    put_index(
        port,
        ".security-7",
        &["elastic: pw2"],
        &serde_json::json!({"feature": "security"}),
    );

    // A wrong checksum: refused before anything is deleted.
    let wrong = call(
        &scripts::elasticsearch_restore(),
        &[("IN", &b1), ("EXPECTED_SHA256", &"0".repeat(64))],
    );
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("refusing to restore"),
        "{}",
        stderr(&wrong)
    );
    assert_eq!(
        es_indices(port)["logs-2026.12.01"]["docs"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    let restored = call(
        &scripts::elasticsearch_restore(),
        &[("IN", &b1), ("EXPECTED_SHA256", &sha)],
    );
    assert!(restored.status.success(), "{}", stderr(&restored));
    let indices = es_indices(port);
    assert_eq!(
        indices["logs-2026.12.01"]["docs"],
        serde_json::json!(["a", "b", "c"])
    );
    assert_eq!(
        indices[".ds-logs-app-000001"]["docs"],
        serde_json::json!(["x", "y"])
    );
    assert_eq!(
        indices["logs-2026.12.02"]["docs"],
        serde_json::json!(["new"]),
        "made since: kept"
    );
    assert_eq!(
        indices[".logs-deprecation"]["docs"],
        serde_json::json!(["old", "newer"]),
        "dot-prefixed: neither deleted nor restored"
    );
    assert_eq!(
        indices[".kibana_1"]["docs"],
        serde_json::json!(["dashboard A"])
    );
    assert_eq!(
        indices[".security-7"]["docs"],
        serde_json::json!(["elastic: pw2"]),
        "the cluster's users and passwords stay"
    );
    // The snapshot is gone from the repository again, which stays registered.
    assert!(!repo.join("snap-stackctl-backup.json").exists());
    let third = dir.path().join("backups/b3/elasticsearch.tar.gz");
    result(
        &call(
            &scripts::elasticsearch_dump(),
            &[("OUT", third.to_str().unwrap())],
        ),
        &third,
    );

    // No room where the backup goes: refused before a snapshot is taken.
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let out = scratch.join("b4/elasticsearch.tar.gz");
    let full = call(
        &scripts::elasticsearch_dump(),
        &[
            ("OUT", out.to_str().unwrap()),
            ("ROOM", "10"),
            ("SCRATCH", scratch.to_str().unwrap()),
        ],
    );
    assert!(!full.status.success());
    assert!(
        stderr(&full).contains("not enough space for the backup of elasticsearch"),
        "{}",
        stderr(&full)
    );
    assert!(!out.exists());
    // A wrong password: no result line.
    std::fs::write(&password, "wrong").unwrap();
    let denied = call(
        &scripts::elasticsearch_dump(),
        &[("OUT", dir.path().join("b5/e.tar.gz").to_str().unwrap())],
    );
    assert!(!denied.status.success());
    assert!(
        stderr(&denied).contains("unable to authenticate"),
        "{}",
        stderr(&denied)
    );
    assert!(!stdout(&denied).contains("\"sha256\""));
}
