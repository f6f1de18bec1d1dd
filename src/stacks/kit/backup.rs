//! `backup.*`, shared by every stack: the backup volume's settings and, with
//! `backup.schedule`, the CronJob that backs up the stack's metadata stores (the
//! backups a stack marks `default`) with no stackctl around. The CronJob is one of
//! the release's objects (applied, upgraded and pruned with it); the volume is not
//! (see `stacks::backup_jobs::claim`).

use serde_json::json;

use super::ctx::{Ctx, StackValues};
use super::values::S3;
use crate::model::{BackupSettings, BackupSpec, Phase, Rendered, S3Target};
use crate::stacks::backup_jobs;
use crate::stacks::component::Builder;
use crate::values::Problems;

pub const COMPONENT: &str = "backup";
/// The backup volume's size for a stack without `backup.persistence`.
const DEFAULT_SIZE: &str = "5Gi";
/// More scheduled backups than this is a mistake (a typo for days of a month?).
const MAX_KEEP: u32 = 1000;
/// A run the controller missed by more than this (it was down) is skipped, not
/// run late: without a bound, the `batch/v1beta1` controller gives up on a
/// CronJob that missed more than 100 runs.
const STARTING_DEADLINE_SECONDS: u32 = 3600;

/// The settings the runner needs: size and class of the volume (the class falls
/// back to `global.storageClass`, as every volume's does), and the schedule.
pub fn settings<V: StackValues>(v: &V) -> BackupSettings {
    let global_class = &v.global().storage_class;
    let Some(b) = v.backup() else {
        return BackupSettings {
            size: DEFAULT_SIZE.into(),
            storage_class: global_class.clone(),
            keep: 1,
            ..BackupSettings::default()
        };
    };
    let class = if b.persistence.storage_class.is_empty() {
        global_class
    } else {
        &b.persistence.storage_class
    };
    BackupSettings {
        schedule: b.schedule.trim().to_string(),
        keep: b.keep,
        size: b.persistence.size.as_str().to_string(),
        storage_class: class.clone(),
        s3: s3_target(&b.s3),
        s3_client: (
            crate::stacks::workload::image(
                &v.global().image_registry,
                &b.s3.image.repository,
                &b.s3.image.tag,
                &b.s3.image.digest,
            ),
            b.s3.image.pull_policy.as_str().to_string(),
        ),
    }
}

/// `backup.s3` as the runner needs it; `None` without a bucket.
fn s3_target(s3: &S3) -> Option<S3Target> {
    if s3.bucket.is_empty() {
        return None;
    }
    let endpoint = s3.endpoint.trim_end_matches('/');
    let url = if s3.path_style {
        format!("{endpoint}/{}", s3.bucket)
    } else {
        let (scheme, host) = endpoint.split_once("://").unwrap_or(("https", endpoint));
        format!("{scheme}://{}.{host}", s3.bucket)
    };
    let prefix = s3.prefix.trim_matches('/');
    Some(S3Target {
        url,
        region: s3.region.clone(),
        prefix: if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        },
        secret: s3.existing_secret.clone(),
        encryption: s3.server_side_encryption.clone(),
    })
}

/// What the schema cannot say of `backup.s3`, each problem with its key.
fn check_s3(s3: &S3, p: &mut Problems) {
    if s3.bucket.is_empty() {
        return;
    }
    // S3's bucket naming rules (AWS "Bucket naming rules"): 3 to 63 lowercase
    // letters, digits, dots and hyphens, a letter or digit at each end.
    let b = &s3.bucket;
    let ok = (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !ok {
        p.add(
            "backup.s3.bucket",
            format!(
                "{b:?} is no S3 bucket name (3 to 63 lowercase letters, digits, dots, hyphens)"
            ),
        );
    }
    match s3.endpoint.parse::<http::Uri>() {
        Ok(u)
            if matches!(u.scheme_str(), Some("http" | "https"))
                && u.host().is_some_and(|h| !h.is_empty())
                && u.query().is_none()
                && matches!(u.path(), "" | "/") => {}
        _ => {
            p.add(
                "backup.s3.endpoint",
                format!(
                    "{:?} is no service URL: http(s)://host[:port], no path",
                    s3.endpoint
                ),
            );
        }
    }
    if s3.region.is_empty()
        || !s3
            .region
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-')
    {
        p.add(
            "backup.s3.region",
            format!("{:?} is no region (us-east-1)", s3.region),
        );
    }
    // Keys are signed as written: only characters no URL encodes.
    if !s3
        .prefix
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"-._/".contains(&c))
    {
        p.add(
            "backup.s3.prefix",
            format!(
                "{:?}: only letters, digits, '-', '.', '_' and '/'",
                s3.prefix
            ),
        );
    }
    if s3.existing_secret.is_empty() {
        p.add(
            "backup.s3.existingSecret",
            "the Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is required with backup.s3.bucket",
        );
    } else if let Err(e) = crate::values::checks::dns1123_subdomain(&s3.existing_secret) {
        p.add("backup.s3.existingSecret", e);
    }
    if !["", "AES256", "aws:kms"].contains(&s3.server_side_encryption.as_str()) {
        p.add(
            "backup.s3.serverSideEncryption",
            format!(
                "{:?}: one of AES256, aws:kms, or \"\" for the bucket's default",
                s3.server_side_encryption
            ),
        );
    }
}

/// The notes' lines on backups: the schedule, or how to take or schedule one;
/// nothing when the release has nothing to back up.
pub fn notes<V: StackValues>(
    v: &V,
    release: &crate::model::Release,
    specs: &[BackupSpec],
) -> Vec<String> {
    let s = settings(v);
    let scheduled = !s.schedule.is_empty();
    let names = |keep: &dyn Fn(&BackupSpec) -> bool| -> Vec<&str> {
        specs
            .iter()
            .filter(|b| keep(b))
            .map(|b| b.component.as_str())
            .collect()
    };
    let what = if scheduled {
        names(&BackupSpec::schedulable)
    } else {
        names(&|b| b.default)
    };
    // Those a schedule cannot take, said so rather than silently missing.
    let on_request = names(&|b| scheduled && b.default && !b.schedulable());
    let stopping = names(&|b| scheduled && b.schedulable() && b.stopped().is_some());
    if what.is_empty() && on_request.is_empty() {
        return Vec::new();
    }
    let when = if s.schedule.is_empty() {
        "on demand (`stackctl backup create`; `--set backup.schedule='0 3 * * *'` schedules them)"
            .to_string()
    } else {
        let to = match &s.s3 {
            Some(t) => t.describe(&release.namespace, &release.name),
            None => format!("the volume {}", backup_jobs::claim_name(&release.name)),
        };
        format!(
            "scheduled {:?}, the newest {} kept, to {to}",
            s.schedule, s.keep
        )
    };
    let mut out = vec![String::new()];
    if !what.is_empty() {
        out.push(format!("Backups of {}: {when}", what.join(", ")));
    }
    if !on_request.is_empty() {
        out.push(format!(
            "  {} only on request (`stackctl backup create`): stopped for the copy, which this schedule does not do",
            on_request.join(", ")
        ));
    }
    if !stopping.is_empty() {
        out.push(format!(
            "  {} stopped for the copy of its volume at each scheduled backup (seconds)",
            stopping.join(", ")
        ));
    }
    let opt_in = names(&|b| !b.default);
    if !opt_in.is_empty() {
        out.push(format!(
            "  bulk stores, on request with `stackctl backup create --component NAME`: {}",
            opt_in.join(", ")
        ));
    }
    out.push(
        "  `stackctl backup list` shows them; `stackctl backup restore NAME` restores one".into(),
    );
    out
}

/// What the schema cannot say of `backup`.
pub fn check<V: StackValues>(v: &V, p: &mut Problems) {
    let Some(b) = v.backup() else {
        return;
    };
    let keep = b.keep;
    if !(1..=MAX_KEEP).contains(&keep) {
        p.add(
            "backup.keep",
            format!("must be from 1 to {MAX_KEEP}, got {keep}"),
        );
    }
    check_s3(&b.s3, p);
}

/// The CronJob of `backup.schedule`, when set and the stack has something to back
/// up by default; `None` otherwise.
pub fn schedule<V: StackValues, C>(ctx: &Ctx<'_, V, C>, specs: &[BackupSpec]) -> Option<Rendered> {
    let s = settings(ctx.values);
    let chosen: Vec<&BackupSpec> = specs.iter().filter(|b| b.schedulable()).collect();
    if s.schedule.is_empty() || chosen.is_empty() {
        return None;
    }
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Apps, &chosen[0].version);
    let api_version = if ctx.caps.cronjob_v1 {
        "batch/v1"
    } else {
        "batch/v1beta1"
    };
    let body = json!({
        "metadata": b.meta(backup_jobs::cronjob_name(&ctx.release.name)),
        "spec": {
            "schedule": s.schedule,
            // Two backups at once would share one ReadWriteOnce volume and race
            // on retention.
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": STARTING_DEADLINE_SECONDS,
            "successfulJobsHistoryLimit": s.keep,
            "failedJobsHistoryLimit": 3,
            "suspend": false,
            "jobTemplate": backup_jobs::scheduled_job_template(
                ctx.release,
                &chosen,
                s.keep,
                &backup_jobs::Place::of(ctx.release, &s),
            ),
        },
    });
    b.push_value(api_version, "CronJob", body);
    push_scaler(&mut b, ctx.release, &chosen);
    // In the apps phase, after every data service it backs up is ready.
    Some(b.finish(Vec::new()))
}

/// The ServiceAccount a scheduled backup's step stops its component with (see
/// `backup_scripts::stopped_through_api`), when one does: allowed to read and
/// change the scale of those StatefulSets and to read their pod 0, by name;
/// nothing else. In the storage phase, as every RBAC object.
fn push_scaler(b: &mut Builder<'_>, release: &crate::model::Release, chosen: &[&BackupSpec]) {
    let stopped: Vec<&str> = chosen.iter().filter_map(|s| s.stopped()).collect();
    if stopped.is_empty() {
        return;
    }
    let by_name = |mut rule: k8s_openapi::api::rbac::v1::PolicyRule, names: Vec<String>| {
        rule.resource_names = Some(names);
        rule
    };
    let pods = stopped.iter().map(|s| format!("{s}-0")).collect();
    let sets = stopped.iter().map(|s| (*s).to_string()).collect();
    crate::stacks::workload::push_namespaced_rbac(
        b,
        &backup_jobs::scaler_name(&release.name),
        vec![
            by_name(
                crate::stacks::workload::rule(
                    &["apps"],
                    &["statefulsets/scale"],
                    &["get", "patch"],
                ),
                sets,
            ),
            by_name(
                crate::stacks::workload::rule(&[""], &["pods"], &["get"]),
                pods,
            ),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stacks::types::{Image, PullPolicy};

    fn s3(bucket: &str) -> S3 {
        S3 {
            bucket: bucket.into(),
            endpoint: "https://s3.eu-west-1.amazonaws.com/".into(),
            region: "eu-west-1".into(),
            prefix: "/team/stack/".into(),
            path_style: true,
            existing_secret: "s3-keys".into(),
            server_side_encryption: "AES256".into(),
            image: Image {
                repository: "curlimages/curl".into(),
                tag: "8.14.1".into(),
                digest: String::new(),
                pull_policy: PullPolicy::IfNotPresent,
            },
        }
    }

    fn problems(s: &S3) -> Vec<String> {
        let mut p = Problems::default();
        check_s3(s, &mut p);
        p.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_bucket_url_follows_the_addressing_style_and_the_prefix_is_normalised() {
        assert_eq!(s3_target(&s3("")), None, "no bucket: the volume");
        let t = s3_target(&s3("my-backups")).unwrap();
        assert_eq!(t.url, "https://s3.eu-west-1.amazonaws.com/my-backups");
        assert_eq!(t.prefix, "team/stack/");
        assert_eq!(
            t.release_prefix("logs", "cv"),
            "team/stack/logs/cv/",
            "two namespaces' releases of one name never share a key"
        );
        let mut virtual_hosted = s3("my-backups");
        virtual_hosted.path_style = false;
        virtual_hosted.prefix = String::new();
        let t = s3_target(&virtual_hosted).unwrap();
        assert_eq!(t.url, "https://my-backups.s3.eu-west-1.amazonaws.com");
        assert_eq!(t.release_prefix("logs", "cv"), "logs/cv/");
    }

    #[test]
    fn s3_values_are_checked_with_their_keys() {
        assert!(problems(&s3("my-backups")).is_empty());
        assert!(problems(&s3("")).is_empty(), "unused: unchecked");
        let mut bad = s3("My_Bucket");
        bad.endpoint = "s3.amazonaws.com/path".into();
        bad.region = String::new();
        bad.prefix = "a b".into();
        bad.existing_secret = String::new();
        bad.server_side_encryption = "aes".into();
        let found = problems(&bad).join("\n");
        for key in [
            "backup.s3.bucket",
            "backup.s3.endpoint",
            "backup.s3.region",
            "backup.s3.prefix",
            "backup.s3.existingSecret",
            "backup.s3.serverSideEncryption",
        ] {
            assert!(found.contains(key), "{key} not named in:\n{found}");
        }
        let mut path = s3("my-backups");
        path.endpoint = "https://minio.example.com:9000/bucket".into();
        assert!(problems(&path)[0].contains("no path"));
    }
}
