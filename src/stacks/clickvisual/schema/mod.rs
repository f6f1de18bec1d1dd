//! ClickVisual's MySQL schema, shipped with stackctl and applied once per revision by
//! a Job that the app waits for.
//!
//! Why stackctl carries it: the image's `config/database.sql` (what `clickvisual
//! init` runs by default) lacks the six report and AI tables v1.0.7 added in
//! `scripts/migration/database.sql`, a file its `Dockerfile` does not copy. At start
//! `api/internal/service/init.go` calls `report.StartScheduler()`, which reads
//! `cv_report` (`api/internal/service/report/scheduler.go`), so without them the
//! server exits. The files are upstream's, verbatim, under `upstream/<tag>/<path>`.
//!
//! Versions: the schema of a version is every step up to it (`STEPS`), each made
//! re-runnable ([`sql::rerunnable`]): what exists is kept, what is missing is added, so
//! an upgrade to a newer known version applies that version's additions. A tag
//! stackctl has no schema for gets the newest one, additive statements only, with a
//! warning: it may be the user's own database. `clickvisual.schema.sql` replaces the
//! shipped schema; `clickvisual.schema.enabled=false` skips schema work.

pub mod sql;

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{Container, PodSpec};

use super::Ctx;
use super::mysql;
use super::values::ClickVisual;
use crate::model::{PER_REVISION_ANNOTATION, Phase, Rendered, SCHEMA_ANNOTATION};
use crate::stacks::component::Builder;
use crate::stacks::probe_scripts::mysql_client_setup;
use crate::stacks::workload as w;

/// The component: its Job runs in the data phase, after MySQL; the app depends on it.
pub const COMPONENT: &str = "clickvisual-schema";
/// Key of the script in the schema ConfigMap, and where the Job mounts it.
pub const SCRIPT_KEY: &str = "schema.sql";
const MOUNT_DIR: &str = "/schema";
/// Where the Job mounts the app's MySQL password (file `password`).
const PASSWORD_DIR: &str = "/credentials";
/// `nobody`, not the image's `mysql` (999): the Job runs the mysql client only,
/// which needs no file of the server's user and writes nothing but `HOME=/tmp` (an
/// emptyDir), as the MySQL probe does (`src/probe/job.rs`). The Job's name holds the
/// revision, so a release upgraded to this runs a new Job, not a changed one.
const CLIENT_UID: i64 = 65534;

/// A ClickVisual release version, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// `1.0.7` or `v1.0.7`; anything else (`latest`, `1.0.7-rc1`, a digest) is no
    /// version stackctl can vouch for.
    pub fn parse(tag: &str) -> Option<Version> {
        let digits = tag.strip_prefix('v').unwrap_or(tag);
        let mut parts = digits.split('.').map(|p| {
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u32>().ok())
                .flatten()
        });
        let v = Version(parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then_some(v)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// One upstream file that a version added to the schema.
#[derive(Debug)]
pub struct Step {
    /// The first version that needs it.
    pub since: Version,
    /// The tag and path it was copied from (github.com/clickvisual/clickvisual).
    pub tag: &'static str,
    pub path: &'static str,
    pub sql: &'static str,
}

/// Every schema step, oldest first.
pub const STEPS: &[Step] = &[
    // The whole schema up to v1.0.6 (37 tables and the seed admin), unchanged in
    // v1.0.5, v1.0.6 and v1.0.7.
    Step {
        since: Version(1, 0, 4),
        tag: "v1.0.4",
        path: "config/database.sql",
        sql: include_str!("upstream/v1.0.4/config/database.sql"),
    },
    // The report and AI tables of v1.0.7; not copied into the image.
    Step {
        since: Version(1, 0, 7),
        tag: "v1.0.7",
        path: "scripts/migration/database.sql",
        sql: include_str!("upstream/v1.0.7/scripts/migration/database.sql"),
    },
];

/// Versions whose schema stackctl carries: each was read against upstream at its tag.
pub const KNOWN: &[Version] = &[
    Version(1, 0, 4),
    Version(1, 0, 5),
    Version(1, 0, 6),
    Version(1, 0, 7),
];

/// Where the schema a release applies comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The shipped schema of a known version.
    Known(Version),
    /// The newest shipped schema, additive statements only, for a tag stackctl does
    /// not know.
    Newest { tag: String, newest: Version },
    /// `clickvisual.schema.sql`, as given.
    Custom,
}

/// The script the schema Job runs, and how it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub source: Source,
    pub script: String,
    /// Statements of the shipped files left out (for an unknown tag, those that are
    /// not additive).
    pub left_out: usize,
}

/// The schema for these values; `None` when schema work is off.
pub fn schema(v: &ClickVisual) -> Option<Schema> {
    if !v.schema.enabled {
        return None;
    }
    if !v.schema.sql.trim().is_empty() {
        return Some(Schema {
            source: Source::Custom,
            script: v.schema.sql.clone(),
            left_out: 0,
        });
    }
    let newest = *KNOWN.last().expect("at least one known version");
    Some(
        match Version::parse(&v.image.tag).filter(|v| KNOWN.contains(v)) {
            Some(version) => steps_script(Source::Known(version), STEPS, version, false),
            None => steps_script(
                Source::Newest {
                    tag: v.image.tag.clone(),
                    newest,
                },
                STEPS,
                newest,
                true,
            ),
        },
    )
}

/// The steps up to `version`, re-runnable; with `additive_only`, without anything
/// that could change or remove what exists.
fn steps_script(source: Source, steps: &[Step], version: Version, additive_only: bool) -> Schema {
    let steps: Vec<&Step> = steps.iter().filter(|s| s.since <= version).collect();
    let mut script = format!(
        "-- ClickVisual {version} schema, applied by stackctl{}.\n\
         -- Made re-runnable: INSERT became INSERT IGNORE; CREATE DATABASE and USE are\n\
         -- left out (the client is connected to the configured database).\n\
         -- From github.com/clickvisual/clickvisual:\n",
        if additive_only {
            " (additive statements only)"
        } else {
            ""
        }
    );
    for s in &steps {
        script.push_str(&format!("--   {} {}\n", s.tag, s.path));
    }
    let mut left_out = 0;
    for s in &steps {
        script.push_str(&format!("\n-- {} {}\n", s.tag, s.path));
        for stmt in sql::split(s.sql) {
            let Some((kind, text)) = sql::rerunnable(stmt.text) else {
                continue;
            };
            if additive_only && !kind.is_additive() {
                left_out += 1;
                continue;
            }
            script.push_str(&text);
            // A statement ending in a line comment gets its `;` on a line of its own.
            let last_line = text.lines().last().unwrap_or_default();
            script.push_str(if last_line.contains("--") || last_line.contains('#') {
                "\n;\n"
            } else {
                ";\n"
            });
        }
    }
    Schema {
        source,
        script,
        left_out,
    }
}

/// What a person should know about the schema these values apply.
pub fn warnings(v: &ClickVisual) -> Vec<String> {
    let Some(s) = schema(v) else {
        return Vec::new();
    };
    let Source::Newest { tag, newest } = &s.source else {
        return Vec::new();
    };
    let known = KNOWN
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let mut w = format!(
        "clickvisual.image.tag {tag:?} is not a ClickVisual version stackctl has the schema of ({known}); \
         applying the {newest} schema, additive statements only (CREATE TABLE IF NOT EXISTS, INSERT IGNORE)"
    );
    if s.left_out > 0 {
        w.push_str(&format!(
            "; {} statements that would change existing tables were left out",
            s.left_out
        ));
    }
    w.push_str(
        ". If that version needs more, give its schema with --set-file clickvisual.schema.sql=FILE",
    );
    vec![w]
}

/// Applies the script as the app's MySQL account, which ClickVisual connects as and
/// which owns the app's database: the MySQL image's `8.4/docker-entrypoint.sh` runs
/// ``GRANT ALL ON `$MYSQL_DATABASE`.* TO '$MYSQL_USER'@'%'``, and an external one is
/// the account the user gave. Waits while MySQL refuses connections (client errors
/// 2002/2003/2005/2013) for up to `WAIT_SECONDS` (480, inside the Job's 600 s
/// deadline, so that its own message is what a failure shows); fails at once on
/// anything else, such as a wrong password.
///
/// Env: `HOST`, `PORT`, `DATABASE`, `MYSQL_USER`, `MYSQL_PASSWORD`, `SCHEMA_FILE`.
/// The password reaches the client through a private option file
/// ([`mysql_client_setup`]), as in the MySQL probe. The client stops at the first
/// failing statement and names its line.
pub const APPLY: &str = concat!(
    "set -u\n",
    // The password from a file (the Job mounts the Secret's key), else from the env.
    // `$(cat)` drops trailing newlines, which the option file could not hold anyway.
    "if [ -n \"${MYSQL_PASSWORD_FILE:-}\" ]; then\n",
    "  MYSQL_PASSWORD=$(cat \"$MYSQL_PASSWORD_FILE\") || exit 2\n",
    "fi\n",
    mysql_client_setup!(),
    r#"run() {
  "$client" --defaults-extra-file="$dir/my.cnf" --protocol=TCP --connect-timeout=10 \
    --default-character-set=utf8mb4 -h "$HOST" -P "$PORT" -u "$MYSQL_USER" -D "$DATABASE" "$@"
}
waited=0
until run -N -B -e 'SELECT 1' >/dev/null 2>"$dir/err"; do
  case $(cat "$dir/err") in
    *"ERROR 2002"*|*"ERROR 2003"*|*"ERROR 2005"*|*"ERROR 2013"*) refused=yes ;;
    *) refused=no ;;
  esac
  if [ "$refused" = no ] || [ "$waited" -ge "${WAIT_SECONDS:-480}" ]; then
    cat "$dir/err" >&2
    echo "cannot connect to MySQL at $HOST:$PORT/$DATABASE as $MYSQL_USER (waited ${waited}s)" >&2
    exit 1
  fi
  echo "waiting for MySQL at $HOST:$PORT (${waited}s)"
  sleep 5
  waited=$((waited + 5))
done
if ! run < "$SCHEMA_FILE"; then
  echo "applying $SCHEMA_FILE to $HOST:$PORT/$DATABASE as $MYSQL_USER failed" >&2
  exit 1
fi
if ! tables=$(run -N -B -e 'SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()'); then
  echo "applied $SCHEMA_FILE, but counting the tables of $DATABASE failed" >&2
  exit 1
fi
echo "schema applied to $HOST:$PORT/$DATABASE: $tables tables"
"#
);

/// The schema ConfigMap (storage phase) and the Job applying it, named for the
/// revision: a Job's pod template cannot change. An upgrade that changes nothing
/// of the Job keeps the last revision's completed run (`Plan::keep_completed_runs`);
/// a retry of a failed revision runs a new one.
pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.clickvisual;
    let schema = schema(v)?;
    let mysql_conn = &ctx.conn.mysql;
    let mysql_image = &ctx.values.mysql.image;
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Data, &v.image.tag);

    let config_map = w::workload_name(&b);
    b.push_in(
        Phase::Storage,
        w::config_map(
            &b,
            config_map.clone(),
            BTreeMap::from([(SCRIPT_KEY.to_string(), schema.script.clone())]),
        ),
    );
    let mut security = w::container_security();
    security.read_only_root_filesystem = Some(true);
    let container = Container {
        command: Some(w::shell(APPLY)),
        env: Some(vec![
            w::env("HOST", &mysql_conn.host),
            w::env("PORT", mysql_conn.port.to_string()),
            w::env("DATABASE", &mysql_conn.database),
            w::env("MYSQL_USER", &mysql_conn.username),
            // A file, not an env var: the Secret's key mounted read-only.
            w::env("MYSQL_PASSWORD_FILE", format!("{PASSWORD_DIR}/password")),
            w::env("SCHEMA_FILE", format!("{MOUNT_DIR}/{SCRIPT_KEY}")),
            // The client wants a writable home for its history and option files.
            w::env("HOME", "/tmp"),
        ]),
        volume_mounts: Some(vec![
            w::mount("schema", MOUNT_DIR, true),
            w::mount("password", PASSWORD_DIR, true),
            w::mount("tmp", "/tmp", false),
        ]),
        security_context: Some(security),
        ..w::container(
            "apply-schema",
            ctx.image(mysql_image),
            mysql_image.pull_policy.as_str(),
            // More headroom than the wait containers' 64 MiB: the client holds the
            // statements and their results.
            w::resources(("50m", "64Mi"), ("500m", "256Mi")),
        )
    };
    let pod = PodSpec {
        // Each try in a pod of its own, kept: with `OnFailure` the Job controller
        // deletes the pod when the tries run out, and its log (the failing statement)
        // with it.
        restart_policy: Some("Never".into()),
        containers: vec![container],
        volumes: Some(vec![
            w::config_map_volume("schema", &config_map),
            w::secret_key_volume(
                "password",
                &mysql_conn.password_ref.secret,
                mysql_conn.password_ref.key,
            ),
            w::empty_dir("tmp"),
        ]),
        ..w::pod_spec(
            &b,
            &ctx.pod_globals(),
            1,
            w::pod_security(Some(CLIENT_UID), Some(CLIENT_UID)),
        )
    };
    let base = w::workload_name(&b);
    let name = format!("{base}-{}", ctx.release.revision);
    let mut job = w::job_named(&b, name, 2, 600, pod);
    let annotations = job.metadata.annotations.get_or_insert_default();
    annotations.insert(PER_REVISION_ANNOTATION.to_string(), base);
    // The script is in a ConfigMap the Job names but does not hold: its checksum
    // makes a changed script (`clickvisual.schema.sql`) a change of the Job, which
    // an upgrade then runs again rather than keeping the last revision's run.
    annotations.extend(w::checksum_annotation(&schema.script));
    annotations.insert(
        SCHEMA_ANNOTATION.to_string(),
        format!(
            "ClickVisual's tables in MySQL {}:{}/{}",
            mysql_conn.host, mysql_conn.port, mysql_conn.database
        ),
    );
    b.push(job);
    let deps = if mysql_conn.internal {
        vec![mysql::COMPONENT]
    } else {
        Vec::new()
    };
    Some(b.finish(deps))
}

#[cfg(test)]
mod tests;
