use std::collections::BTreeSet;

use super::super::common::testing::*;
use super::sql::{self, Kind};
use super::*;
use crate::model::Release;

/// Tables each version uses, read from upstream (see each file's header).
fn fixture(tag: &str) -> BTreeSet<String> {
    let text = match tag {
        "v1.0.4" => include_str!("../../../../tests/fixtures/clickvisual-tables/v1.0.4.txt"),
        "v1.0.5" => include_str!("../../../../tests/fixtures/clickvisual-tables/v1.0.5.txt"),
        "v1.0.6" => include_str!("../../../../tests/fixtures/clickvisual-tables/v1.0.6.txt"),
        "v1.0.7" => include_str!("../../../../tests/fixtures/clickvisual-tables/v1.0.7.txt"),
        other => panic!("no table fixture for {other}"),
    };
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Tables the script creates.
fn created_tables(script: &str) -> BTreeSet<String> {
    sql::split(script)
        .iter()
        .filter(|s| sql::classify(s.text) == Kind::CreateTableIfNotExists)
        .map(|s| {
            s.text
                .split('`')
                .nth(1)
                .expect("table names are quoted")
                .to_string()
        })
        .collect()
}

fn with_tag(tag: &str) -> super::super::values::Values {
    let mut v = values();
    v.clickvisual.image.tag = tag.into();
    v
}

#[test]
fn versions_parse_with_or_without_v() {
    assert_eq!(Version::parse("1.0.7"), Some(Version(1, 0, 7)));
    assert_eq!(Version::parse("v1.2.0"), Some(Version(1, 2, 0)));
    assert_eq!(Version::parse("v10.20.30"), Some(Version(10, 20, 30)));
    for tag in [
        "",
        "latest",
        "1.0",
        "1.0.7.1",
        "1.0.7-rc1",
        "v1.0.x",
        "vv1.0.7",
        "1..7",
        "sha256:0123abcd",
    ] {
        assert_eq!(Version::parse(tag), None, "{tag:?}");
    }
    assert_eq!(Version(1, 0, 7).to_string(), "1.0.7");
    assert!(Version(1, 0, 10) > Version(1, 0, 7));
}

#[test]
fn every_known_version_gets_every_table_it_uses() {
    for version in KNOWN {
        let tag = format!("v{version}");
        let s = schema(&with_tag(&tag).clickvisual).unwrap();
        assert_eq!(s.source, Source::Known(*version));
        let created = created_tables(&s.script);
        let missing: Vec<_> = fixture(&tag).difference(&created).cloned().collect();
        assert!(missing.is_empty(), "{tag}: no CREATE TABLE for {missing:?}");
    }
    // The default tag carries no `v`.
    let s = schema(&values().clickvisual).unwrap();
    assert_eq!(s.source, Source::Known(Version(1, 0, 7)));
    assert_eq!(created_tables(&s.script).len(), 43);
    // The report tables came with 1.0.7 and are not created for 1.0.6.
    let old = created_tables(&schema(&with_tag("1.0.6").clickvisual).unwrap().script);
    assert_eq!(old.len(), 37);
    assert!(!old.contains("cv_report"));
}

#[test]
fn shipped_statements_are_all_rerunnable_and_additive() {
    // The schema of a version is every step up to it, run again on each revision: that
    // is only safe while each statement adds what is missing and leaves the rest. A
    // step that alters tables needs a record of what was applied first.
    for step in STEPS {
        let stmts = sql::split(step.sql);
        assert!(!stmts.is_empty(), "{} {}", step.tag, step.path);
        for stmt in stmts {
            if let Some((kind, text)) = sql::rerunnable(stmt.text) {
                assert!(
                    kind.is_additive(),
                    "{} {} line {}: {kind:?} is not additive: {text}",
                    step.tag,
                    step.path,
                    stmt.line
                );
            }
        }
    }
}

#[test]
fn the_script_names_its_sources_and_keeps_the_seed_rows_of_an_existing_database() {
    let s = schema(&values().clickvisual).unwrap();
    assert!(
        s.script.contains(
            "--   v1.0.4 config/database.sql\n--   v1.0.7 scripts/migration/database.sql\n"
        ),
        "{}",
        &s.script[..600]
    );
    let stmts = sql::split(&s.script);
    assert!(stmts.iter().all(|st| !matches!(
        sql::classify(st.text),
        Kind::CreateDatabase | Kind::Use | Kind::Insert
    )));
    let seeds: Vec<_> = stmts
        .iter()
        .filter(|st| sql::classify(st.text) == Kind::InsertIgnore)
        .collect();
    assert_eq!(seeds.len(), 3, "the admin user and its two casbin rules");
    assert!(seeds[0].text.starts_with("INSERT IGNORE INTO cv_user ("));
    // MariaDB (which the integration test runs the script on) lacks MySQL 8's
    // `utf8mb4_0900_*` collations; the script must not depend on them either way.
    assert!(!s.script.contains("0900"));
    assert_eq!(s.left_out, 0);
}

#[test]
fn an_unknown_tag_gets_the_newest_schema_additively_with_a_warning() {
    for tag in ["v1.2.0", "latest", "1.0.3"] {
        let v = with_tag(tag);
        let s = schema(&v.clickvisual).unwrap();
        assert_eq!(
            s.source,
            Source::Newest {
                tag: tag.into(),
                newest: Version(1, 0, 7)
            }
        );
        assert_eq!(created_tables(&s.script).len(), 43);
        assert!(s.script.contains("(additive statements only)"));
        let w = warnings(&v.clickvisual);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains(&format!("clickvisual.image.tag {tag:?}")),
            "{}",
            w[0]
        );
        assert!(w[0].contains("1.0.4, 1.0.5, 1.0.6, 1.0.7"), "{}", w[0]);
        assert!(
            w[0].contains("--set-file clickvisual.schema.sql="),
            "{}",
            w[0]
        );
    }
    assert!(warnings(&values().clickvisual).is_empty());
    assert!(warnings(&with_tag("v1.0.6").clickvisual).is_empty());
}

#[test]
fn additive_only_leaves_out_whatever_could_change_existing_tables() {
    const STEPS: &[Step] = &[
        Step {
            since: Version(1, 0, 0),
            tag: "v1.0.0",
            path: "a.sql",
            sql: "CREATE DATABASE IF NOT EXISTS cv;\nUSE cv;\n\
                  CREATE TABLE IF NOT EXISTS `t` (`id` int);\n\
                  INSERT INTO `t` VALUES (1);",
        },
        Step {
            since: Version(1, 1, 0),
            tag: "v1.1.0",
            path: "b.sql",
            sql: "ALTER TABLE `t` ADD COLUMN `c` int;\nDROP TABLE `old`;\n\
                  CREATE TABLE `u` (`id` int);\nUPDATE `t` SET `c` = 1;\n\
                  CREATE TABLE IF NOT EXISTS `v` (`id` int);\nINSERT IGNORE INTO `v` VALUES (1);",
        },
    ];
    let statements = |s: &Schema| -> Vec<String> {
        sql::split(&s.script)
            .iter()
            .map(|st| st.text.to_string())
            .collect()
    };
    let known = steps_script(
        Source::Known(Version(1, 1, 0)),
        STEPS,
        Version(1, 1, 0),
        false,
    );
    assert_eq!(known.left_out, 0);
    assert_eq!(statements(&known).len(), 8);
    let only_first = steps_script(
        Source::Known(Version(1, 0, 0)),
        STEPS,
        Version(1, 0, 0),
        false,
    );
    assert_eq!(
        statements(&only_first),
        [
            "CREATE TABLE IF NOT EXISTS `t` (`id` int)",
            "INSERT IGNORE INTO `t` VALUES (1)"
        ]
    );
    let additive = steps_script(
        Source::Newest {
            tag: "x".into(),
            newest: Version(1, 1, 0),
        },
        STEPS,
        Version(1, 1, 0),
        true,
    );
    assert_eq!(additive.left_out, 4);
    assert_eq!(
        statements(&additive),
        [
            "CREATE TABLE IF NOT EXISTS `t` (`id` int)",
            "INSERT IGNORE INTO `t` VALUES (1)",
            "CREATE TABLE IF NOT EXISTS `v` (`id` int)",
            "INSERT IGNORE INTO `v` VALUES (1)",
        ]
    );
}

#[test]
fn a_statement_ending_in_a_comment_keeps_its_terminator_outside_it() {
    const STEPS: &[Step] = &[Step {
        since: Version(1, 0, 0),
        tag: "v1.0.0",
        path: "a.sql",
        sql: "CREATE TABLE IF NOT EXISTS `a` (`id` int) -- trailing; note\n;\n\
              CREATE TABLE IF NOT EXISTS `b` (`id` int);",
    }];
    let s = steps_script(
        Source::Known(Version(1, 0, 0)),
        STEPS,
        Version(1, 0, 0),
        false,
    );
    assert!(
        s.script
            .contains("CREATE TABLE IF NOT EXISTS `a` (`id` int) -- trailing; note\n;\n"),
        "{}",
        s.script
    );
    assert_eq!(sql::split(&s.script).len(), 2);
}

#[test]
fn a_custom_script_is_applied_as_given_and_off_means_no_job() {
    let mut v = values();
    v.clickvisual.schema.sql = "ALTER TABLE cv_user ADD COLUMN x int;".into();
    let s = schema(&v.clickvisual).unwrap();
    assert_eq!(s.source, Source::Custom);
    assert_eq!(s.script, "ALTER TABLE cv_user ADD COLUMN x int;");
    assert!(warnings(&v.clickvisual).is_empty());

    v.clickvisual.schema.enabled = false;
    assert_eq!(schema(&v.clickvisual), None);
    let all = render_all(&v);
    assert!(all.iter().all(|r| r.name != COMPONENT));
    let app = component(&all, "clickvisual");
    assert!(!app.depends_on.contains(&COMPONENT));
}

fn release_at(revision: u32) -> Release {
    Release {
        revision,
        ..release()
    }
}

#[test]
fn one_job_per_revision_before_the_app() {
    let v = values();
    let all = super::super::render(&v, &release_at(7), crate::model::Capabilities::latest());
    let r = component(&all, COMPONENT);
    assert_eq!(r.phase, Phase::Data);
    assert_eq!(r.depends_on, vec!["mysql"]);
    let app = component(&all, "clickvisual");
    assert!(app.depends_on.contains(&COMPONENT), "{:?}", app.depends_on);

    let job = find(r, "Job", "cv-clickvisual-schema-7");
    assert_eq!(job.phase.as_str(), "data");
    assert_eq!(
        job.body["metadata"]["annotations"][SCHEMA_ANNOTATION],
        "ClickVisual's tables in MySQL cv-mysql.logs.svc:3306/clickvisual"
    );
    let spec = &job.body["spec"];
    assert_eq!(spec["backoffLimit"], 2);
    assert_eq!(spec["activeDeadlineSeconds"], 600);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsUser"], 65534);
    assert_eq!(pod["securityContext"]["runAsGroup"], 65534);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["automountServiceAccountToken"], false);
    // Each try keeps its pod, and so its log.
    assert_eq!(pod["restartPolicy"], "Never");
    let c = container_of(job, "apply-schema");
    assert_eq!(c["image"], "mysql:8.4");
    assert_eq!(c["command"][2], APPLY);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(env(c, "HOST"), Some("cv-mysql.logs.svc"));
    assert_eq!(env(c, "MYSQL_USER"), Some("clickvisual"));
    assert_eq!(env(c, "DATABASE"), Some("clickvisual"));
    assert_eq!(env(c, "SCHEMA_FILE"), Some("/schema/schema.sql"));
    // The password is a file from the Secret, not an env var.
    assert!(
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["name"] != "MYSQL_PASSWORD" && e.get("valueFrom").is_none()),
        "{c}"
    );
    assert_password_file(
        pod,
        c,
        "MYSQL_PASSWORD_FILE",
        "/credentials",
        "cv-mysql-credentials",
        "mysql-password",
    );
    assert!(!job.body.to_string().contains(MYSQL_PW));

    let cm = find(r, "ConfigMap", "cv-clickvisual-schema");
    assert_eq!(cm.phase.as_str(), "storage");
    let script = cm.body["data"][SCRIPT_KEY].as_str().unwrap();
    assert_eq!(script, schema(&v.clickvisual).unwrap().script);

    // The next revision is a new Job: a Job's template cannot change in place.
    let next = super::super::render(&v, &release_at(8), crate::model::Capabilities::latest());
    find(
        component(&next, COMPONENT),
        "Job",
        "cv-clickvisual-schema-8",
    );
}

#[test]
fn an_external_database_is_migrated_with_the_users_account() {
    let mut v = values();
    use_external_mysql(&mut v, "cvowner");
    let all = render_all(&v);
    let r = component(&all, COMPONENT);
    assert!(r.depends_on.is_empty());
    let job = find(r, "Job", "cv-clickvisual-schema-1");
    let c = container_of(job, "apply-schema");
    assert_eq!(env(c, "HOST"), Some("db.example.com"));
    assert_eq!(env(c, "PORT"), Some("3307"));
    assert_eq!(env(c, "MYSQL_USER"), Some("cvowner"));
    assert_eq!(env(c, "DATABASE"), Some("cvdb"));
}

/// MySQL 8.4 rejects its reserved words as unquoted identifiers; MariaDB's list
/// differs, so running the script on MariaDB does not prove this.
#[test]
// The word lists sit beside the checks that use them.
#[allow(clippy::items_after_statements)]
fn no_mysql_8_4_reserved_word_is_an_unquoted_identifier() {
    let reserved: BTreeSet<&str> =
        include_str!("../../../../tests/fixtures/mysql-8.4-reserved-words.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
    assert!(reserved.contains("TRIGGER") && reserved.contains("DESC"));
    // Reserved words the script uses as syntax: statements, column types and
    // attributes, keys.
    const SYNTAX: &[&str] = &[
        "BIGINT",
        "CHARACTER",
        "COLLATE",
        "CREATE",
        "DECIMAL",
        "DEFAULT",
        "EXISTS",
        "IF",
        "IGNORE",
        "INDEX",
        "INSERT",
        "INT",
        "INTO",
        "KEY",
        "LONGTEXT",
        "MEDIUMTEXT",
        "NOT",
        "NULL",
        "PRIMARY",
        "SET",
        "TABLE",
        "TINYINT",
        "UNIQUE",
        "UNSIGNED",
        "VALUES",
        "VARCHAR",
    ];
    let mut tags: Vec<String> = KNOWN.iter().map(std::string::ToString::to_string).collect();
    tags.push("v1.2.0".into());
    for tag in tags {
        let s = schema(&with_tag(&tag).clickvisual).unwrap();
        for stmt in sql::split(&s.script) {
            for word in sql::bare_words(stmt.text) {
                let upper = word.to_ascii_uppercase();
                assert!(
                    !reserved.contains(upper.as_str()) || SYNTAX.contains(&upper.as_str()),
                    "{tag}: reserved word {word:?} unquoted in: {}",
                    stmt.text
                );
            }
        }
    }
    // Column and index definitions (one a line, as upstream writes them): a bare
    // first word must be index syntax, never a reserved word naming a column, which
    // the list above lets through where it is also syntax (`key`, `index`, `default`).
    const INDEX_WORDS: &[&str] = &[
        "PRIMARY",
        "KEY",
        "UNIQUE",
        "INDEX",
        "CONSTRAINT",
        "FOREIGN",
        "FULLTEXT",
        "SPATIAL",
        "CHECK",
    ];
    let column_names_ok = |stmt: &str| -> Result<(), String> {
        for line in stmt.lines().skip(1) {
            let line = line.trim();
            if line.starts_with('`') || line.starts_with(')') || line.is_empty() {
                continue;
            }
            let words = sql::bare_words(line);
            let Some(first) = words.first().map(|w| w.to_ascii_uppercase()) else {
                continue;
            };
            let second = words
                .get(1)
                .map(|w| w.to_ascii_uppercase())
                .unwrap_or_default();
            let is_type = reserved.contains(second.as_str())
                && !INDEX_WORDS.contains(&second.as_str())
                || ["TEXT", "JSON", "DATETIME", "TIMESTAMP"].contains(&second.as_str());
            if reserved.contains(first.as_str())
                && (!INDEX_WORDS.contains(&first.as_str()) || is_type)
            {
                return Err(format!("column {first} unquoted in: {line}"));
            }
        }
        Ok(())
    };
    for stmt in sql::split(&schema(&values().clickvisual).unwrap().script) {
        if sql::classify(stmt.text) == Kind::CreateTableIfNotExists {
            column_names_ok(stmt.text).unwrap();
        }
    }
    assert!(column_names_ok("CREATE TABLE t (\n  key varchar(8),\n  `id` int\n)").is_err());
    assert!(column_names_ok("CREATE TABLE t (\n  default int\n)").is_err());
    assert!(
        column_names_ok(
            "CREATE TABLE t (\n  `id` int,\n  KEY `k` (`id`),\n  PRIMARY KEY (`id`)\n)"
        )
        .is_ok()
    );

    // The check sees what it must: a reserved column name left unquoted.
    let words = sql::bare_words(
        "CREATE TABLE IF NOT EXISTS `t` (desc varchar(8), `trigger` int, c text COMMENT 'key')",
    );
    assert!(words.contains(&"desc"));
    assert!(!words.contains(&"trigger") && !words.contains(&"key"));
}
