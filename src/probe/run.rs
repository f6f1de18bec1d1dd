//! Running probes on the cluster: delete the previous run's Jobs, create one Job per
//! probe (all at once), watch them until each completes or fails, read the failing
//! pods' state and logs, delete the Jobs, and report.
//!
//! Waiting is watch-based: one watch of this run's Jobs (`stackctl.dev/probe-run`);
//! the only timer is each Job's own deadline plus a grace period, for a cluster whose
//! Job controller never gets to it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{Context, Result};
use futures::{StreamExt, stream};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerState, Pod, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, wait::await_condition, watcher};
use kube::{Api, ResourceExt};
use tokio::time::{Instant, sleep_until};

use super::job::{self, JobParams};
use super::report::{Outcome, ProbeReport, ProbeResult};
use super::{CONTAINER, RUN_LABEL, select};
use crate::apply::FIELD_MANAGER;
use crate::cluster::Session;
use crate::model::external_probes;
use crate::model::{FanOut, PROBE_LABEL, ProbeSpec};
use crate::model::{Manifest, RELEASE_LABEL, Release};
use crate::release::{Store, StoreError};
use crate::stacks::workload as w;

/// `<release>-preflight-credentials`: the temporary Secret of preflight probes.
pub const PREFLIGHT_SECRET_SUFFIX: &str = "preflight-credentials";
/// How long after a Job's own deadline stackctl stops waiting for the Job controller
/// to mark it failed.
const GRACE: Duration = Duration::from_secs(30);
/// Lines of a probe pod's log shown; the scripts say what failed in their last lines.
const LOG_LINES: i64 = 40;
/// Bound on waiting for a previous run's Job to be gone before re-creating it.
const DELETE_WAIT: Duration = Duration::from_secs(60);

/// How a run goes; `Default` runs every probe with its own timeout, logs of failing
/// probes only.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// A component name or glob: only matching probes run (`--filter`).
    pub filter: Option<String>,
    /// Replaces every probe's own timeout (`--timeout`).
    pub timeout: Option<Duration>,
    /// Fetch the log of passing probes too (`--logs`).
    pub logs: bool,
}

/// A result with its place in the report: (probe, pod of a fan-out).
type Placed = ((usize, usize), ProbeResult);

/// A Job to create.
struct Planned {
    /// Position in the report: (probe, pod of a fan-out).
    order: (usize, usize),
    spec: ProbeSpec,
    name: String,
    target: String,
    extra_env: Vec<k8s_openapi::api::core::v1::EnvVar>,
}

/// A Job created and not yet finished.
struct Running {
    planned: Planned,
    uid: String,
    created: Instant,
    timeout: Duration,
    deadline: Instant,
}

/// Runs `probes` (those `opts.filter` selects) as Jobs in the release namespace and
/// reports every result; `on_result` sees each as it arrives (for progress output).
/// Finished Jobs are deleted afterwards (background propagation); a previous run's
/// Jobs of the same probes are deleted before (so runs repeat). Probe failures are
/// results, not errors: the error case is not being able to run at all (API
/// refusals, or a filter matching nothing: a [`FilterError`](super::FilterError)).
pub async fn run_probes(
    session: &Session,
    release: &Release,
    probes: Vec<ProbeSpec>,
    opts: &RunOptions,
    mut on_result: impl FnMut(&ProbeResult),
) -> Result<ProbeReport> {
    let ran_at = Timestamp::now();
    let selected = select(probes, opts.filter.as_deref(), &release.name)?;
    let client = session.client.clone();
    let jobs: Api<Job> = Api::namespaced(client.clone(), &release.namespace);
    let pods: Api<Pod> = Api::namespaced(client, &release.namespace);

    let mut results: Vec<Placed> = Vec::new();
    let mut planned = Vec::new();
    for (i, spec) in selected.into_iter().enumerate() {
        match spec.fan_out.clone() {
            None => planned.push(Planned {
                order: (i, 0),
                name: job::job_name(&release.name, &spec.component),
                target: spec.target.clone(),
                extra_env: Vec::new(),
                spec,
            }),
            Some(fan) => {
                let found = pods
                    .list(&ListParams::default().labels(&selector(&fan.selector)))
                    .await
                    .with_context(|| format!("listing the pods {} probes", spec.component))?;
                let (jobs_for_pods, problems) =
                    fan_out(&release.name, i, &spec, &fan, &found.items);
                planned.extend(jobs_for_pods);
                for (order, r) in problems {
                    on_result(&r);
                    results.push((order, r));
                }
            }
        }
    }

    let mut components: Vec<&str> = planned.iter().map(|p| p.spec.component.as_str()).collect();
    components.sort_unstable();
    components.dedup();
    delete_previous(&jobs, release, &components).await?;

    let run_id = format!("{:x}", Timestamp::now().as_nanosecond() as u64);
    let created: Vec<Result<Running, (Planned, String)>> = stream::iter(planned)
        .map(|p| create(&jobs, release, &run_id, p, opts.timeout))
        .buffer_unordered(crate::apply::CONCURRENCY)
        .collect()
        .await;
    let mut running: HashMap<String, Running> = HashMap::new();
    // Only finished Jobs are deleted afterwards: one that never finished is kept for
    // `kubectl describe`, and the next run waits for it before re-using its name.
    let mut finished_names = Vec::new();
    for c in created {
        match c {
            Ok(r) => {
                running.insert(r.planned.name.clone(), r);
            }
            Err((p, why)) => {
                let r = unrun(&p.spec, &p.target, &p.name, why);
                on_result(&r);
                results.push((p.order, r));
            }
        }
    }

    let watch = watcher(
        jobs.clone(),
        watcher::Config::default().labels(&format!("{RUN_LABEL}={run_id}")),
    )
    .backoff(crate::cluster::retry::WatchBackoff::default())
    .applied_objects();
    let mut watch = std::pin::pin!(watch);
    let mut watch_failures = 0usize;
    while let Some(next_deadline) = running.values().map(|r| r.deadline).min() {
        tokio::select! {
            biased;
            () = sleep_until(next_deadline) => {
                let now = Instant::now();
                let late: Vec<String> = running
                    .iter()
                    .filter(|(_, r)| r.deadline <= now)
                    .map(|(n, _)| n.clone())
                    .collect();
                for name in late {
                    let r = running.remove(&name).expect("listed above");
                    let order = r.planned.order;
                    let mut result = finish(&pods, r, None, opts.logs).await;
                    result.message.push_str(&format!(
                        "; Job kept: kubectl -n {} describe job {name}",
                        release.namespace
                    ));
                    on_result(&result);
                    results.push((order, result));
                }
            }
            event = watch.next() => match event {
                Some(Ok(live)) => {
                    let name = live.name_any();
                    let ours = running
                        .get(&name)
                        .is_some_and(|r| live.metadata.uid.as_deref() == Some(r.uid.as_str()));
                    if ours && terminal(&live).is_some() {
                        let r = running.remove(&name).expect("checked above");
                        finished_names.push(name.clone());
                        let order = r.planned.order;
                        let result = finish(&pods, r, Some(&live), opts.logs).await;
                        on_result(&result);
                        results.push((order, result));
                    }
                }
                Some(Err(e)) => {
                    // The watcher retries with back-off; a lasting refusal ends in
                    // each Job's deadline, reported as timed out.
                    watch_failures += 1;
                    if watch_failures == 1 {
                        tracing::warn!("watching probe Jobs failed (retrying): {e}");
                    }
                }
                None => break,
            }
        }
    }

    cleanup(&jobs, &release.namespace, &finished_names).await;
    results.sort_by_key(|(order, _)| *order);
    Ok(ProbeReport::new(
        ran_at,
        opts.filter.clone(),
        results.into_iter().map(|(_, r)| r).collect(),
    ))
}

/// Preflight for external dependencies: the external probes only, before anything of
/// the release exists. Their credentials Secrets do not exist yet either, so the
/// keys they read are copied from the rendered Secrets in `manifests` into a
/// temporary Secret `<release>-preflight-credentials` (owned by nothing), the probes
/// read it instead, and it is deleted afterwards — with the Jobs, the only writes
/// before install. The namespace must exist.
pub async fn run_preflight_probes(
    session: &Session,
    release: &Release,
    probes: Vec<ProbeSpec>,
    manifests: &[Manifest],
    opts: &RunOptions,
    on_result: impl FnMut(&ProbeResult),
) -> Result<ProbeReport> {
    let external = external_probes(probes);
    if external.is_empty() {
        return Ok(ProbeReport::new(Timestamp::now(), None, Vec::new()));
    }
    let name = release.object_name(PREFLIGHT_SECRET_SUFFIX);
    let (secret, retargeted) =
        job::preflight_secret(release, &name, &external, manifests).map_err(anyhow::Error::msg)?;
    run_with_secret(session, release, &secret, retargeted, opts, on_result).await
}

/// Runs `probes` (see [`run_probes`]) while `secret`, which their env reads, exists:
/// applied before (a Secret left by a killed run is simply replaced), deleted after,
/// whatever the outcome.
pub async fn run_with_secret(
    session: &Session,
    release: &Release,
    secret: &Secret,
    probes: Vec<ProbeSpec>,
    opts: &RunOptions,
    on_result: impl FnMut(&ProbeResult),
) -> Result<ProbeReport> {
    let name = secret.name_any();
    let secrets: Api<Secret> = Api::namespaced(session.client.clone(), &release.namespace);
    secrets
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(secret),
        )
        .await
        .with_context(|| format!("creating the temporary Secret {name}"))?;
    let outcome = run_probes(session, release, probes, opts, on_result).await;
    match secrets.delete(&name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => crate::output::warn(format!(
            "could not delete the temporary Secret {name}: {e}; delete it with `kubectl -n {} delete secret {name}`",
            release.namespace
        )),
    }
    outcome
}

/// The preflight step of install and upgrade: the probes of `stack`'s external
/// dependencies (see [`run_preflight_probes`]). `Ok(None)` when there are none,
/// `Ok(Some(report))` when all answered; a failure is [`ExternalsDoNotAnswer`], its
/// message holding the table and the logs — nothing but the temporary probe objects
/// (already deleted) was written.
pub async fn preflight_external(
    session: &Session,
    stack: &dyn crate::stacks::Stack,
    values: &crate::stacks::ResolvedValues,
    release: &Release,
    manifests: &[Manifest],
    on_result: impl FnMut(&ProbeResult),
) -> Result<Option<ProbeReport>> {
    let external = external_probes(stack.probes(values, release)?);
    if external.is_empty() {
        return Ok(None);
    }
    let report = run_preflight_probes(
        session,
        release,
        external,
        manifests,
        &RunOptions::default(),
        on_result,
    )
    .await?;
    if report.passed() {
        return Ok(Some(report));
    }
    Err(ExternalsDoNotAnswer { report }.into())
}

/// External dependencies that did not answer the preflight probes as configured.
#[derive(Debug)]
pub struct ExternalsDoNotAnswer {
    pub report: ProbeReport,
}

impl std::fmt::Display for ExternalsDoNotAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let failed: Vec<String> = self
            .report
            .failed()
            .map(|r| format!("{}.external.*", r.component))
            .collect();
        write!(
            f,
            "preflight: external services do not answer as configured; nothing was deployed\n{}\n\ncheck {} (host, port, credentials) and that the cluster can reach them, then re-run",
            self.report,
            failed.join(", ")
        )
    }
}

impl std::error::Error for ExternalsDoNotAnswer {}

/// Stores `report` in the newest revision of `release` (`Record.probes`), re-reading
/// when another writer got there first. Returns the revision updated.
pub async fn save_to_record(store: &Store, release: &str, report: &ProbeReport) -> Result<u32> {
    let mut attempt = 0;
    loop {
        let mut record = store
            .latest(release)
            .await?
            .with_context(|| format!("release {release} has no revisions"))?;
        record.probes = Some(report.for_record());
        match store.update(&mut record).await {
            Ok(()) => return Ok(record.revision),
            Err(StoreError::Conflict { .. }) if attempt < 2 => attempt += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// `k=v,k2=v2`.
fn selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// One Job per live pod of a fan-out, in node order; problems (no pods, a pod without
/// an IP) are results of their own.
fn fan_out(
    release: &str,
    index: usize,
    spec: &ProbeSpec,
    fan: &FanOut,
    pods: &[Pod],
) -> (Vec<Planned>, Vec<Placed>) {
    let mut live: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
        })
        .collect();
    let node = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_else(|| "no node".to_string())
    };
    live.sort_by_key(|p| (node(p), p.name_any()));
    if live.is_empty() {
        let why = format!("no running pod matches {}", selector(&fan.selector));
        let r = unrun(spec, &spec.target, "", why);
        return (Vec::new(), vec![((index, 0), r)]);
    }
    let mut planned = Vec::new();
    let mut problems = Vec::new();
    for (n, pod) in live.into_iter().enumerate() {
        let name = job::fan_out_name(release, &spec.component, n);
        let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone());
        let Some(ip) = ip else {
            let target = format!("{} on {}", pod.name_any(), node(pod));
            let phase = pod
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Unknown".into());
            let why = format!("the pod has no IP yet (phase {phase})");
            problems.push(((index, n), unrun(spec, &target, "", why)));
            continue;
        };
        let host = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.clone()
        };
        planned.push(Planned {
            order: (index, n),
            target: format!("{} on {} ({ip})", pod.name_any(), node(pod)),
            extra_env: vec![w::env(fan.env, fan.template.replace("{ip}", &host))],
            spec: spec.clone(),
            name,
        });
    }
    (planned, problems)
}

/// A result for a probe that never ran.
fn unrun(spec: &ProbeSpec, target: &str, job: &str, why: String) -> ProbeResult {
    ProbeResult {
        component: spec.component.clone(),
        target: target.to_string(),
        check: spec.check.clone(),
        job: job.to_string(),
        result: Outcome::Error,
        duration_ms: 0,
        message: why,
        exit_code: None,
        log: None,
        log_source: None,
        log_unavailable: None,
    }
}

/// Deletes the probe Jobs of `components` left by an earlier run (finished, failed,
/// or abandoned by a killed stackctl), and waits until they and their pods are gone,
/// so that their names are free again.
///
/// A Job still running is first given time to finish. The Job controller matches
/// pod events to Jobs by name: delete a Job while its pod is being created, re-create
/// the name, and the controller waits for the old pod under the new Job — for five
/// minutes, creating nothing. A finished Job has no pod in flight; foreground
/// propagation then keeps it until its pods are gone.
async fn delete_previous(jobs: &Api<Job>, release: &Release, components: &[&str]) -> Result<()> {
    if components.is_empty() {
        return Ok(());
    }
    let selector = format!(
        "{RELEASE_LABEL}={},{PROBE_LABEL} in ({})",
        release.name,
        components.join(",")
    );
    let previous = jobs
        .list(&ListParams::default().labels(&selector))
        .await
        .context("listing earlier probe Jobs")?;
    let waits = previous
        .items
        .into_iter()
        .map(|old| remove_finished(jobs.clone(), old));
    futures::future::try_join_all(waits).await?;
    Ok(())
}

/// Waits (boundedly) for `old` to finish, deletes it with its pods, and waits until
/// it is gone.
async fn remove_finished(jobs: Api<Job>, old: Job) -> Result<()> {
    let name = old.name_any();
    let Some(uid) = old.metadata.uid.clone() else {
        return Ok(());
    };
    if terminal(&old).is_none() && old.metadata.deletion_timestamp.is_none() {
        let finished = |j: Option<&Job>| {
            j.is_none_or(|j| {
                j.metadata.uid.as_deref() != Some(uid.as_str()) || terminal(j).is_some()
            })
        };
        let wait = await_condition(jobs.clone(), &name, finished);
        if tokio::time::timeout(DELETE_WAIT, wait).await.is_err() {
            crate::output::warn(format!(
                "the earlier probe Job {name} is still running after {}s; deleting it anyway",
                DELETE_WAIT.as_secs()
            ));
        }
    }
    let gone = crate::cluster::delete_and_wait(&jobs, &name, &uid, DELETE_WAIT)
        .await
        .with_context(|| format!("deleting the earlier probe Job {name}"))?;
    if !gone {
        anyhow::bail!(
            "the earlier probe Job {name} and its pods are still being deleted after {}s",
            DELETE_WAIT.as_secs()
        );
    }
    Ok(())
}

async fn create(
    jobs: &Api<Job>,
    release: &Release,
    run_id: &str,
    planned: Planned,
    timeout: Option<Duration>,
) -> Result<Running, (Planned, String)> {
    let timeout = timeout.unwrap_or(planned.spec.timeout);
    let job = job::render(
        &planned.spec,
        &JobParams {
            release,
            name: planned.name.clone(),
            run_id,
            timeout,
            extra_env: planned.extra_env.clone(),
        },
    );
    match jobs.create(&PostParams::default(), &job).await {
        Ok(created) => {
            let now = Instant::now();
            Ok(Running {
                uid: created.metadata.uid.unwrap_or_default(),
                created: now,
                timeout,
                deadline: now + timeout + GRACE,
                planned,
            })
        }
        Err(e) => {
            let why = match &e {
                kube::Error::Api(s) if s.code == 409 => format!(
                    "a Job {} exists that is not a probe of this release: {}",
                    planned.name, s.message
                ),
                kube::Error::Api(s) => format!("creating Job {}: {}", planned.name, s.message),
                other => format!("creating Job {}: {other}", planned.name),
            };
            Err((planned, why))
        }
    }
}

/// `Some(true)` for a Job that completed, `Some(false)` for one that failed, with
/// the failure's reason and message.
fn terminal(job: &Job) -> Option<(bool, String, String)> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .filter(|c| c.status == "True")
        .find_map(|c| match c.type_.as_str() {
            "Complete" => Some((true, String::new(), String::new())),
            "Failed" => Some((
                false,
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )),
            _ => None,
        })
}

/// What the probe container's last state says.
#[derive(Debug, Default, PartialEq)]
struct ContainerOutcome {
    pod: Option<String>,
    exit_code: Option<i32>,
    /// `terminated.reason` or `waiting.reason` (Error, ImagePullBackOff…).
    reason: Option<String>,
    /// `waiting.message`: why it never started.
    waiting_message: Option<String>,
    /// `terminated.message`: the tail of the log (`FallbackToLogsOnError`).
    termination_message: Option<String>,
}

fn container_outcome(pods: &[Pod]) -> ContainerOutcome {
    // The newest pod: with backoffLimit 0 there is one, unless it was evicted.
    let Some(pod) = pods
        .iter()
        .max_by_key(|p| p.metadata.creation_timestamp.clone())
    else {
        return ContainerOutcome::default();
    };
    let mut out = ContainerOutcome {
        pod: Some(pod.name_any()),
        ..Default::default()
    };
    let state = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == CONTAINER))
        .and_then(|c| c.state.clone());
    match state {
        Some(ContainerState {
            terminated: Some(t),
            ..
        }) => {
            out.exit_code = Some(t.exit_code);
            out.reason = t.reason;
            out.termination_message = t.message.filter(|m| !m.trim().is_empty());
        }
        Some(ContainerState {
            waiting: Some(wt), ..
        }) => {
            out.reason = wt.reason;
            out.waiting_message = wt.message;
        }
        _ => {
            // Never started: the pod's own reason (Unschedulable shows as a condition).
            out.reason = pod.status.as_ref().and_then(|s| {
                s.reason.clone().or_else(|| {
                    s.conditions
                        .as_ref()?
                        .iter()
                        .find_map(|c| (c.status == "False").then(|| c.reason.clone()).flatten())
                })
            });
        }
    }
    out
}

/// The result of a finished (or given-up-on, `live: None`) Job: outcome from its
/// conditions, details from its pod, the log when it failed or `logs` asks.
async fn finish(pods: &Api<Pod>, r: Running, live: Option<&Job>, logs: bool) -> ProbeResult {
    let duration = r.created.elapsed();
    let list = pods
        .list(&ListParams::default().labels(&format!("controller-uid={}", r.uid)))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let c = container_outcome(&list);
    let (result, message) = judge(live.and_then(terminal), &c, r.timeout, duration);
    let mut out = ProbeResult {
        component: r.planned.spec.component.clone(),
        target: r.planned.target.clone(),
        check: r.planned.spec.check.clone(),
        job: r.planned.name.clone(),
        result,
        duration_ms: duration.as_millis() as u64,
        message,
        exit_code: c.exit_code.filter(|_| result != Outcome::Passed),
        log: None,
        log_source: None,
        log_unavailable: None,
    };
    if result != Outcome::Passed || logs {
        match &c.pod {
            None => out.log_unavailable = Some("no pod of the Job exists".into()),
            Some(pod) => {
                let params = LogParams {
                    container: Some(CONTAINER.into()),
                    tail_lines: Some(LOG_LINES),
                    ..Default::default()
                };
                match pods.logs(pod, &params).await {
                    Ok(text) => {
                        out.log = Some(text);
                        out.log_source = Some(format!("pod log of {pod}"));
                    }
                    Err(e) => {
                        let why = match e {
                            kube::Error::Api(s) => s.message,
                            other => other.to_string(),
                        };
                        match &c.termination_message {
                            Some(m) => {
                                out.log = Some(m.clone());
                                out.log_source = Some(format!(
                                    "termination message of {pod}; the logs API said: {why}"
                                ));
                            }
                            None => out.log_unavailable = Some(why),
                        }
                    }
                }
            }
        }
    }
    out
}

/// Outcome and message from the Job's end state and its container.
fn judge(
    end: Option<(bool, String, String)>,
    c: &ContainerOutcome,
    timeout: Duration,
    waited: Duration,
) -> (Outcome, String) {
    let pod_state = || match (&c.reason, &c.waiting_message) {
        (Some(r), Some(m)) => format!("; pod: {r}: {m}"),
        (Some(r), None) => format!("; pod: {r}"),
        _ => String::new(),
    };
    match end {
        Some((true, _, _)) => (Outcome::Passed, String::new()),
        Some((false, reason, message)) => {
            let text = if reason == "DeadlineExceeded" {
                format!("no answer within {}s{}", timeout.as_secs(), pod_state())
            } else if let Some(code) = c.exit_code {
                format!("exit code {code}")
            } else if message.is_empty() {
                format!("Job failed: {reason}{}", pod_state())
            } else {
                format!("Job failed: {reason}: {message}{}", pod_state())
            };
            (Outcome::Failed, text)
        }
        None => (
            Outcome::TimedOut,
            format!(
                "the Job did not finish within {}s{}",
                waited.as_secs(),
                pod_state()
            ),
        ),
    }
}

/// Deletes this run's Jobs; their pods go with them (background propagation).
/// Best effort: a Job left behind is deleted by the next run, or by its TTL.
async fn cleanup(jobs: &Api<Job>, namespace: &str, names: &[String]) {
    let params = DeleteParams::background();
    let deletions = names.iter().map(|name| {
        let jobs = jobs.clone();
        let params = params.clone();
        async move {
            match jobs.delete(name, &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => crate::output::warn(format!(
                    "could not delete probe Job {name}: {e}; delete it with `kubectl -n {namespace} delete job {name}`"
                )),
            }
        }
    });
    futures::future::join_all(deletions).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: &str, ip: Option<&str>, phase: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": []},
            "status": {"phase": phase, "podIP": ip},
        }))
        .unwrap()
    }

    fn spec() -> ProbeSpec {
        ProbeSpec {
            component: "fluentbit".into(),
            target: "cv-fluentbit pods".into(),
            check: "GET /api/v1/health".into(),
            ..Default::default()
        }
    }

    fn fan() -> FanOut {
        FanOut {
            selector: BTreeMap::from([("app".into(), "fb".into())]),
            env: "URL",
            template: "http://{ip}:2020/api/v1/health".into(),
        }
    }

    #[test]
    fn fan_out_makes_one_job_per_pod_in_node_order() {
        let pods = [
            pod("fb-b", "node-2", Some("10.0.2.5"), "Running"),
            pod("fb-a", "node-1", Some("10.0.1.5"), "Running"),
            pod("fb-old", "node-1", Some("10.0.1.9"), "Failed"),
            pod("fb-v6", "node-3", Some("fd00::5"), "Running"),
        ];
        let (planned, problems) = fan_out("cv", 4, &spec(), &fan(), &pods);
        assert!(problems.is_empty());
        let names: Vec<&str> = planned.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "cv-test-fluentbit-0",
                "cv-test-fluentbit-1",
                "cv-test-fluentbit-2"
            ]
        );
        assert_eq!(planned[0].target, "fb-a on node-1 (10.0.1.5)");
        assert_eq!(planned[0].order, (4, 0));
        assert_eq!(
            planned[0].extra_env[0].value.as_deref(),
            Some("http://10.0.1.5:2020/api/v1/health")
        );
        assert_eq!(
            planned[2].extra_env[0].value.as_deref(),
            Some("http://[fd00::5]:2020/api/v1/health")
        );
    }

    #[test]
    fn fan_out_problems_are_results() {
        let (planned, problems) = fan_out("cv", 0, &spec(), &fan(), &[]);
        assert!(planned.is_empty());
        assert_eq!(problems[0].1.result, Outcome::Error);
        assert!(
            problems[0].1.message.contains("app=fb"),
            "{:?}",
            problems[0].1
        );

        let pods = [pod("fb-a", "node-1", None, "Pending")];
        let (planned, problems) = fan_out("cv", 0, &spec(), &fan(), &pods);
        assert!(planned.is_empty());
        assert!(problems[0].1.message.contains("no IP yet (phase Pending)"));
    }

    #[test]
    fn judging_job_end_states() {
        let t = Duration::from_secs(60);
        let exited = ContainerOutcome {
            exit_code: Some(3),
            reason: Some("Error".into()),
            ..Default::default()
        };
        assert_eq!(
            judge(Some((true, String::new(), String::new())), &exited, t, t),
            (Outcome::Passed, String::new())
        );
        assert_eq!(
            judge(
                Some((false, "BackoffLimitExceeded".into(), "x".into())),
                &exited,
                t,
                t
            ),
            (Outcome::Failed, "exit code 3".into())
        );
        let pulling = ContainerOutcome {
            reason: Some("ImagePullBackOff".into()),
            waiting_message: Some("Back-off pulling image \"x\"".into()),
            ..Default::default()
        };
        let (o, m) = judge(
            Some((false, "DeadlineExceeded".into(), String::new())),
            &pulling,
            t,
            t,
        );
        assert_eq!(o, Outcome::Failed);
        assert_eq!(
            m,
            "no answer within 60s; pod: ImagePullBackOff: Back-off pulling image \"x\""
        );
        let (o, m) = judge(
            None,
            &ContainerOutcome::default(),
            t,
            Duration::from_secs(90),
        );
        assert_eq!(o, Outcome::TimedOut);
        assert_eq!(m, "the Job did not finish within 90s");
    }

    #[test]
    fn container_outcome_reads_the_probe_container() {
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "cv-test-mysql-abcde", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"phase": "Failed", "containerStatuses": [{
                "name": "probe", "ready": false, "restartCount": 0, "image": "x", "imageID": "",
                "state": {"terminated": {"exitCode": 1, "reason": "Error", "message": "Access denied\n"}}
            }]}
        }))
        .unwrap();
        let c = container_outcome(&[p]);
        assert_eq!(c.pod.as_deref(), Some("cv-test-mysql-abcde"));
        assert_eq!(c.exit_code, Some(1));
        assert_eq!(c.termination_message.as_deref(), Some("Access denied\n"));
        assert_eq!(container_outcome(&[]), ContainerOutcome::default());
    }
}
