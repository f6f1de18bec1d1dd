//! ClickVisual's schema as stackctl renders it, applied for real: the schema Job's
//! own script (`sh -c`, only the environment the Job gives it) against a MariaDB
//! server on loopback, with the script from the rendered ConfigMap. Afterwards every
//! table the version uses (the fixture lists in `tests/fixtures/clickvisual-tables/`,
//! read from upstream's models) must exist; the script must be safe to run again,
//! keep what users changed, and upgrade a 1.0.6 database to 1.0.7.
//!
//! MariaDB stands in for the MySQL 8.4 image (Debian packages no MySQL). Where they
//! differ: MariaDB lacks MySQL 8's `utf8mb4_0900_*` collations (the script uses
//! none: a unit test checks), and their reserved words differ (the unit tests check
//! the script against MySQL 8.4's list too).
//!
//! Needs `mariadbd`, `mariadb-install-db` and a `mysql` or `mariadb` client (Debian:
//! mariadb-server mariadb-client; `.ci/run` installs them).

mod local;

use std::collections::BTreeSet;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use stackctl::model::Capabilities;
use stackctl::operations::{Input, prepare_with_rng};
use stackctl::values::{SetFlag, SetKind};

use local::{Mariadb, have, run, spawn, start_mariadb, stderr, stdout};

const PROGRAMS: &[&str] = &["sh", "sed", "mariadbd", "mariadb-install-db", "mysql"];

/// The schema Job's script and schema file, as rendered for `tag`.
struct Rendered {
    script: String,
    schema: String,
}

fn render(tag: &str) -> Rendered {
    let input = Input {
        profile: Some("minimal".into()),
        namespace: Some("logs".into()),
        sets: vec![SetFlag {
            kind: SetKind::Set,
            raw: format!("clickvisual.image.tag={tag}"),
        }],
        ..Default::default()
    };
    let prepared = prepare_with_rng(&input, &mut StdRng::seed_from_u64(7)).unwrap();
    let plan = prepared.plan(Capabilities::latest()).unwrap();
    let find = |kind: &str, prefix: &str| -> Value {
        plan.manifests()
            .find(|m| m.kind == kind && m.name.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {kind} {prefix}*"))
            .body
            .clone()
    };
    let job = find("Job", "clickvisual-clickvisual-schema-");
    let cm = find("ConfigMap", "clickvisual-clickvisual-schema");
    let command = &job["spec"]["template"]["spec"]["containers"][0]["command"];
    assert_eq!(command[0], "sh");
    assert_eq!(command[1], "-c");
    Rendered {
        script: command[2].as_str().unwrap().to_string(),
        schema: cm["data"]["schema.sql"].as_str().unwrap().to_string(),
    }
}

/// Runs the Job's script against `database` as `clickvisual` (which owns it, as the
/// MySQL image's `MYSQL_USER` owns `MYSQL_DATABASE`).
fn apply(db: &Mariadb, r: &Rendered, database: &str, password: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("schema.sql");
    std::fs::write(&file, &r.schema).unwrap();
    // The password as the Job has it: a file from the Secret.
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, password).unwrap();
    let port = db.port.to_string();
    run(
        &r.script,
        &[
            ("HOST", "127.0.0.1"),
            ("PORT", &port),
            ("DATABASE", database),
            ("MYSQL_USER", "clickvisual"),
            ("MYSQL_PASSWORD_FILE", password_file.to_str().unwrap()),
            ("SCHEMA_FILE", file.to_str().unwrap()),
        ],
    )
}

fn create_database(db: &Mariadb, name: &str) {
    db.root_sql(&format!(
        "CREATE DATABASE {name} DEFAULT CHARSET utf8mb4; GRANT ALL ON {name}.* TO 'clickvisual'@'%';"
    ));
}

fn tables(db: &Mariadb, database: &str) -> BTreeSet<String> {
    db.root_sql(&format!(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = '{database}'"
    ))
    .lines()
    .map(str::to_string)
    .collect()
}

fn fixture(tag: &str) -> BTreeSet<String> {
    let path = format!(
        "{}/tests/fixtures/clickvisual-tables/{tag}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn each_supported_version_gets_every_table_it_uses() {
    if !have(PROGRAMS) {
        return;
    }
    let db = start_mariadb();
    for (i, (tag, expected)) in [
        ("1.0.4", 37),
        ("v1.0.5", 37),
        ("1.0.6", 37),
        ("1.0.7", 43),
        ("v1.0.7", 43),
    ]
    .into_iter()
    .enumerate()
    {
        let database = format!("clickvisual_{i}");
        create_database(&db, &database);
        let out = apply(&db, &render(tag), &database, "RightPw1");
        assert!(out.status.success(), "{tag}: {}", stderr(&out));
        assert!(
            stdout(&out).contains(&format!("/{database}: {expected} tables")),
            "{tag}: {}",
            stdout(&out)
        );
        let have = tables(&db, &database);
        let fixture_tag = format!("v{}", tag.trim_start_matches('v'));
        let missing: Vec<_> = fixture(&fixture_tag).difference(&have).cloned().collect();
        assert!(
            missing.is_empty(),
            "{tag}: tables missing after the Job: {missing:?}"
        );
        assert_eq!(have.len(), expected, "{tag}: {have:?}");
        // The seed admin, once.
        assert_eq!(
            db.root_sql(&format!(
                "SELECT username FROM {database}.cv_user WHERE id = 1"
            ))
            .trim(),
            "clickvisual"
        );
    }
}

#[test]
fn rerunning_keeps_data_and_an_upgrade_adds_the_new_tables() {
    if !have(PROGRAMS) {
        return;
    }
    let db = start_mariadb();
    create_database(&db, "clickvisual_up");
    let old = render("1.0.6");
    let out = apply(&db, &old, "clickvisual_up", "RightPw1");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!tables(&db, "clickvisual_up").contains("cv_report"));

    // What users do between revisions: change the admin's password, add a user.
    db.root_sql(
        "UPDATE clickvisual_up.cv_user SET password = 'changed' WHERE id = 1;
         INSERT INTO clickvisual_up.cv_user (id, username, nickname, password) VALUES (2, 'alice', 'Alice', 'x');",
    );

    // The next revision of the same version: nothing changes, nothing fails.
    let again = apply(&db, &old, "clickvisual_up", "RightPw1");
    assert!(again.status.success(), "{}", stderr(&again));

    // The upgrade to 1.0.7 (the mission's `v1.2.0` gets the same, additively).
    for tag in ["v1.0.7", "v1.2.0"] {
        let out = apply(&db, &render(tag), "clickvisual_up", "RightPw1");
        assert!(out.status.success(), "{tag}: {}", stderr(&out));
        let now = tables(&db, "clickvisual_up");
        assert_eq!(now.len(), 43, "{tag}: {now:?}");
        let missing: Vec<_> = fixture("v1.0.7").difference(&now).cloned().collect();
        assert!(missing.is_empty(), "{tag}: {missing:?}");
    }
    assert_eq!(
        db.root_sql("SELECT id, password FROM clickvisual_up.cv_user ORDER BY id"),
        "1\tchanged\n2\tx\n"
    );
    assert_eq!(
        db.root_sql("SELECT COUNT(*) FROM clickvisual_up.cv_pms_casbin_rule"),
        "2\n"
    );
}

#[test]
fn a_wrong_password_fails_at_once_and_a_bad_statement_names_its_line() {
    if !have(PROGRAMS) {
        return;
    }
    let db = start_mariadb();
    create_database(&db, "clickvisual_bad");
    let r = render("1.0.7");
    let started = std::time::Instant::now();
    let wrong = apply(&db, &r, "clickvisual_bad", "WrongPw");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains("Access denied"),
        "{}",
        stderr(&wrong)
    );
    assert!(
        !stdout(&wrong).contains("waiting for MySQL"),
        "an authentication error is final, not waited out"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));

    let broken = Rendered {
        script: r.script.clone(),
        schema: "CREATE TABLE IF NOT EXISTS `a` (`id` int);\nALTER TABLE `missing` ADD COLUMN `b` int;\n"
            .into(),
    };
    let out = apply(&db, &broken, "clickvisual_bad", "RightPw1");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("at line 2"), "{err}");
    assert!(err.contains("failed"), "{err}");
}

#[test]
fn the_job_waits_while_mysql_refuses_connections() {
    if !have(PROGRAMS) {
        return;
    }
    let mut db = start_mariadb();
    create_database(&db, "clickvisual_late");
    db.stop();
    // MySQL not up yet, as when its pod restarts: the Job keeps trying.
    let r = render("1.0.7");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("schema.sql");
    std::fs::write(&file, &r.schema).unwrap();
    let port = db.port.to_string();
    let env = [
        ("HOST", "127.0.0.1"),
        ("PORT", port.as_str()),
        ("DATABASE", "clickvisual_late"),
        ("MYSQL_USER", "clickvisual"),
        ("MYSQL_PASSWORD", "RightPw1"),
        ("SCHEMA_FILE", file.to_str().unwrap()),
    ];
    let job = spawn(&r.script, &[&env[..], &[("WAIT_SECONDS", "60")]].concat());
    std::thread::sleep(std::time::Duration::from_secs(2));
    db.start();
    let out = job.wait();
    assert!(out.status.success());
    assert!(stdout(&out).contains("waiting for MySQL at 127.0.0.1:"));
    assert!(stdout(&out).contains("clickvisual_late: 43 tables"));

    // Nobody there at all: it gives up when its time is up, saying why.
    db.stop();
    let out = run(&r.script, &[&env[..], &[("WAIT_SECONDS", "5")]].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("(waited 5s)"), "{}", stderr(&out));
}
