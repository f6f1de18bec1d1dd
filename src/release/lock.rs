//! One operation per release at a time, through a `coordination.k8s.io/v1` Lease.
//!
//! Helm locks by writing a `pending-*` status, which stays forever when the client is
//! killed. A Lease instead carries a renew time and a duration: the holder renews it
//! while it works, and once it stops (crash, kill -9, lost laptop) the lock expires by
//! itself and the next run takes it over, knowing that the previous run was
//! interrupted.
//!
//! Every write carries the resourceVersion it was based on, so of two runs racing for
//! a free or expired Lease exactly one succeeds; the other gets a conflict and reports
//! the winner. Expiry compares the holder's renew time with the local clock, which
//! assumes clocks agree to well within the lease duration (NTP does that).
//!
//! Waiting out the lease is only needed when the holder cannot be seen. Each holder
//! records its process in an annotation ([`holder::ANNOTATION`]); a holder that ran
//! on this machine, in our PID namespace, and whose process is gone is known dead,
//! and its lock is taken over at once, the same way as an expired one.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp, Unit};
use kube::api::{DeleteParams, ListParams, PostParams, Preconditions};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::holder::{self, Liveness, LocalProcesses, ProcessIdentity, Processes};
use crate::model::{ReleaseNameError, check_release_name};

/// Attempts at taking a Lease that keeps changing hands before giving up.
const ATTEMPTS: usize = 3;

/// `stackctl-lock-<release>`.
pub fn lease_name(release: &str) -> String {
    format!("stackctl-lock-{release}")
}

/// Who holds a lock and until when, as read from its Lease.
#[derive(Debug, Clone, PartialEq)]
pub struct LockInfo {
    /// `<user>@<host>/pid-<pid>/<operation>`.
    pub holder: String,
    /// The holder's process as its Lease records it; `None` when it does not (written
    /// by an older stackctl, or outside Linux) or cannot be read.
    pub holder_process: Option<ProcessIdentity>,
    /// The holder ran on this machine, in our PID namespace, and its process is gone:
    /// it will never renew or release the lock, which is taken over at once.
    pub holder_dead: bool,
    pub acquired: Option<Timestamp>,
    pub renewed: Option<Timestamp>,
    pub lease_duration: Duration,
    /// Time left before it expires if not renewed; `None` once expired.
    pub expires_in: Option<Duration>,
}

impl LockInfo {
    /// `None` for a Lease nobody holds; `local` tells whether its holder is dead.
    fn from_lease(lease: &Lease, now: Timestamp, local: &impl Processes) -> Option<Self> {
        let spec = lease.spec.as_ref()?;
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty())?;
        let annotation = lease
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(holder::ANNOTATION))
            .map(String::as_str);
        let acquired = spec.acquire_time.as_ref().map(|t| t.0);
        let renewed = spec.renew_time.as_ref().map(|t| t.0).or(acquired);
        let secs = spec.lease_duration_seconds.unwrap_or(0).max(0);
        let lease_duration = Duration::from_secs(secs as u64);
        // A Lease without times cannot prove it is alive: treat it as expired.
        let expires_in = renewed.and_then(|r| {
            let left = r
                .checked_add(SignedDuration::from_secs(secs.into()))
                .ok()?
                .duration_since(now);
            Duration::try_from(left).ok().filter(|d| !d.is_zero())
        });
        Some(LockInfo {
            holder,
            holder_process: annotation.and_then(|a| a.parse().ok()),
            holder_dead: holder::liveness(annotation, local) == Liveness::Dead,
            acquired,
            renewed,
            lease_duration,
            expires_in,
        })
    }

    pub fn is_expired(&self) -> bool {
        self.expires_in.is_none()
    }

    /// Whether the lock is there for the taking: expired, or its holder known dead.
    pub fn is_abandoned(&self) -> bool {
        self.is_expired() || self.holder_dead
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}", held_message(release, namespace, info))]
    Held {
        release: String,
        namespace: String,
        info: Box<LockInfo>,
    },
    #[error(
        "lost the lock on release {release}: {reason}; another run may be changing the release, so this one stopped; check `stackctl status {release} -n {namespace}` and run the command again"
    )]
    Lost {
        release: String,
        namespace: String,
        reason: String,
    },
    #[error(
        "could not take the lock on release {release}: it changed hands {ATTEMPTS} times while trying; run the command again"
    )]
    Contended { release: String },
    #[error(
        "not allowed to {action} ({message}); stackctl locks a release with a Lease (coordination.k8s.io) in its namespace: ask for get, create, update and delete on leases in namespace {namespace}"
    )]
    Forbidden {
        action: String,
        namespace: String,
        message: String,
    },
    #[error("{0}")]
    InvalidName(#[from] ReleaseNameError),
    #[error("{action}: {source}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
}

fn held_message(release: &str, namespace: &str, info: &LockInfo) -> String {
    let since = info
        .acquired
        .map(|t| format!(" since {}", display_time(t)))
        .unwrap_or_default();
    let expires = info
        .expires_in
        .map(|d| format!(" (expires in {}s unless renewed)", d.as_secs_f64().ceil()))
        .unwrap_or_default();
    format!(
        "release {release} is locked by {holder}{since}{expires}; wait for it, or run `stackctl unlock {release} -n {namespace}` if that process is gone",
        holder = info.holder
    )
}

fn display_time(t: Timestamp) -> String {
    t.round(Unit::Second).unwrap_or(t).to_string()
}

/// Entry points; the lock itself is the [`LockGuard`] `acquire` returns.
pub struct Lock;

impl Lock {
    /// Takes the release's lock for `operation` ("install", "upgrade", …), or says who
    /// holds it. An abandoned lock (expired, or its holder known dead) is taken over,
    /// which `LockGuard::took_over` reports: its holder stopped without finishing.
    pub async fn acquire(
        client: Client,
        namespace: &str,
        release: &str,
        operation: &str,
        ttl: Duration,
    ) -> Result<LockGuard, LockError> {
        check_release_name(release)?;
        let api: Api<Lease> = Api::namespaced(client, namespace);
        let ctx = Ctx::new(namespace, release);
        let holder = identity(operation);
        let local = LocalProcesses;
        let process = local.current();
        for _ in 0..ATTEMPTS {
            let now = Timestamp::now();
            let current = api
                .get_opt(&ctx.lease)
                .await
                .map_err(|e| ctx.api_error(e, "read the lock Lease"))?;
            let (previous, result) = match current {
                None => {
                    let lease = new_lease(&ctx, &holder, process.as_ref(), ttl, now, None);
                    (None, api.create(&PostParams::default(), &lease).await)
                }
                Some(existing) => {
                    let previous = LockInfo::from_lease(&existing, now, &local);
                    if let Some(info) = previous.as_ref().filter(|i| !i.is_abandoned()) {
                        return Err(ctx.held(info.clone()));
                    }
                    let lease =
                        new_lease(&ctx, &holder, process.as_ref(), ttl, now, Some(&existing));
                    let replaced = api
                        .replace(&ctx.lease, &PostParams::default(), &lease)
                        .await;
                    (previous, replaced)
                }
            };
            match result {
                Ok(lease) => return Ok(LockGuard::start(api, ctx, lease, previous, ttl)),
                // Someone else got there between our read and write: read again to
                // name the winner.
                Err(kube::Error::Api(s)) if s.is_conflict() || s.is_already_exists() => {}
                Err(e) => return Err(ctx.api_error(e, "take the lock Lease")),
            }
        }
        Err(LockError::Contended {
            release: release.to_string(),
        })
    }

    /// Who holds the release's lock, if anyone (expired holders included).
    pub async fn inspect(
        client: Client,
        namespace: &str,
        release: &str,
    ) -> Result<Option<LockInfo>, LockError> {
        let api: Api<Lease> = Api::namespaced(client, namespace);
        let ctx = Ctx::new(namespace, release);
        let lease = api
            .get_opt(&ctx.lease)
            .await
            .map_err(|e| ctx.api_error(e, "read the lock Lease"))?;
        Ok(lease.and_then(|l| LockInfo::from_lease(&l, Timestamp::now(), &LocalProcesses)))
    }

    /// Releases that have a lock Lease, as (namespace, release), in one namespace or
    /// all readable ones. A first install killed between taking its lock and writing
    /// its first record leaves a lock and no record; this is how `unlock` finds it.
    pub async fn locked(
        client: Client,
        namespace: Option<&str>,
    ) -> Result<Vec<(String, String)>, LockError> {
        let api: Api<Lease> = match namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::all(client),
        };
        let leases = api
            .list(&ListParams::default().labels("owner=stackctl"))
            .await
            .map_err(|source| LockError::Api {
                action: format!(
                    "list stackctl lock Leases in {}",
                    namespace.map_or("all namespaces".to_string(), |ns| format!("namespace {ns}"))
                ),
                source,
            })?;
        Ok(leases
            .items
            .into_iter()
            .filter_map(|l| {
                let release = l.metadata.labels?.remove("name")?;
                (l.metadata.name.as_deref() == Some(lease_name(&release).as_str()))
                    .then_some((l.metadata.namespace?, release))
            })
            .collect())
    }

    /// Removes the release's lock whoever holds it (`stackctl unlock`, after the user
    /// confirmed that holder is gone). Returns what was removed.
    pub async fn force_unlock(
        client: Client,
        namespace: &str,
        release: &str,
    ) -> Result<Option<LockInfo>, LockError> {
        let api: Api<Lease> = Api::namespaced(client, namespace);
        let ctx = Ctx::new(namespace, release);
        let Some(lease) = api
            .get_opt(&ctx.lease)
            .await
            .map_err(|e| ctx.api_error(e, "read the lock Lease"))?
        else {
            return Ok(None);
        };
        match api.delete(&ctx.lease, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.is_not_found() => {}
            Err(e) => return Err(ctx.api_error(e, "delete the lock Lease")),
        }
        Ok(LockInfo::from_lease(
            &lease,
            Timestamp::now(),
            &LocalProcesses,
        ))
    }
}

/// Names used in messages, shared by the guard and its renewer.
#[derive(Debug, Clone)]
struct Ctx {
    namespace: String,
    release: String,
    lease: String,
}

impl Ctx {
    fn new(namespace: &str, release: &str) -> Self {
        Ctx {
            namespace: namespace.to_string(),
            release: release.to_string(),
            lease: lease_name(release),
        }
    }

    fn api_error(&self, source: kube::Error, what: &str) -> LockError {
        let action = format!(
            "{what} {} in namespace {} (the lock of release {})",
            self.lease, self.namespace, self.release
        );
        match &source {
            kube::Error::Api(s) if s.is_forbidden() => LockError::Forbidden {
                action,
                namespace: self.namespace.clone(),
                message: s.message.clone(),
            },
            _ => LockError::Api { action, source },
        }
    }

    fn held(&self, info: LockInfo) -> LockError {
        LockError::Held {
            release: self.release.clone(),
            namespace: self.namespace.clone(),
            info: Box::new(info),
        }
    }

    fn lost(&self, reason: String) -> LockError {
        LockError::Lost {
            release: self.release.clone(),
            namespace: self.namespace.clone(),
            reason,
        }
    }
}

/// The Lease as we write it when taking the lock; `existing` is what we read, whose
/// resourceVersion makes the write fail if anyone changed it since. The previous
/// holder's annotation is replaced, or dropped when we cannot name our process: left
/// behind, it would declare us dead.
fn new_lease(
    ctx: &Ctx,
    holder: &str,
    process: Option<&ProcessIdentity>,
    ttl: Duration,
    now: Timestamp,
    existing: Option<&Lease>,
) -> Lease {
    let transitions = existing
        .and_then(|l| l.spec.as_ref()?.lease_transitions)
        .map_or(0, |t| t + 1);
    Lease {
        metadata: ObjectMeta {
            name: Some(ctx.lease.clone()),
            namespace: Some(ctx.namespace.clone()),
            labels: Some(
                [
                    ("owner".to_string(), "stackctl".to_string()),
                    ("name".to_string(), ctx.release.clone()),
                ]
                .into(),
            ),
            annotations: process.map(|p| [(holder::ANNOTATION.to_string(), p.to_string())].into()),
            resource_version: existing.and_then(|l| l.metadata.resource_version.clone()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.to_string()),
            lease_duration_seconds: Some(ttl.as_secs_f64().ceil().max(1.0) as i32),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..Default::default()
        }),
    }
}

/// `<user>@<host>/pid-<pid>/<operation>`: enough for a person to find the process.
pub fn identity(operation: &str) -> String {
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".to_string());
    format!(
        "{user}@{}/pid-{}/{operation}",
        hostname(),
        std::process::id()
    )
}

fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// Proof of holding a release's lock, renewed in the background until released or
/// dropped. Dropping it without `release` stops renewing, and the Lease expires by
/// itself: the same as when the process is killed.
pub struct LockGuard {
    api: Api<Lease>,
    ctx: Ctx,
    holder: String,
    acquired: Option<Timestamp>,
    took_over: Option<LockInfo>,
    lost: watch::Receiver<Option<String>>,
    renewer: JoinHandle<()>,
}

impl LockGuard {
    fn start(
        api: Api<Lease>,
        ctx: Ctx,
        lease: Lease,
        previous: Option<LockInfo>,
        ttl: Duration,
    ) -> Self {
        let spec = lease.spec.clone().unwrap_or_default();
        let (tx, rx) = watch::channel(None);
        let renewer = tokio::spawn(renew(api.clone(), ctx.clone(), lease, ttl, tx));
        LockGuard {
            api,
            ctx,
            holder: spec.holder_identity.unwrap_or_default(),
            acquired: spec.acquire_time.map(|t| t.0),
            took_over: previous,
            lost: rx,
            renewer,
        }
    }

    /// Our identity as written in the Lease.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The expired holder this lock was taken from: that run was interrupted, and the
    /// revision it left pending should be marked failed.
    pub fn took_over(&self) -> Option<&LockInfo> {
        self.took_over.as_ref()
    }

    /// Whether someone else took the lock (or it could not be renewed in time): the
    /// operation must stop writing.
    pub fn lost(&self) -> bool {
        self.lost.borrow().is_some()
    }

    /// `Err(Lost)` once the lock is lost; for checks between steps.
    pub fn check(&self) -> Result<(), LockError> {
        match self.lost.borrow().clone() {
            Some(reason) => Err(self.ctx.lost(reason)),
            None => Ok(()),
        }
    }

    /// Changes to `Some(reason)` when the lock is lost; for `select!` against long waits.
    pub fn watch_lost(&self) -> watch::Receiver<Option<String>> {
        self.lost.clone()
    }

    /// Stops renewing and deletes the Lease if it is still ours. If someone else has
    /// taken it meanwhile, it is left alone and the error says so.
    pub async fn release(mut self) -> Result<(), LockError> {
        self.renewer.abort();
        let _ = (&mut self.renewer).await;
        // A renewal already sent can still land after the abort, changing the
        // resourceVersion under our delete: then read again and retry.
        for _ in 0..ATTEMPTS {
            let current = self
                .api
                .get_opt(&self.ctx.lease)
                .await
                .map_err(|e| self.ctx.api_error(e, "read the lock Lease"))?;
            let Some(lease) = current else {
                return Ok(());
            };
            if !self.owns(&lease) {
                let by = lease
                    .spec
                    .and_then(|s| s.holder_identity)
                    .unwrap_or_default();
                return Err(self.ctx.lost(format!("{by} holds it now")));
            }
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: lease.metadata.uid.clone(),
                    resource_version: lease.metadata.resource_version.clone(),
                }),
                ..Default::default()
            };
            match self.api.delete(&self.ctx.lease, &params).await {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(s)) if s.is_not_found() => return Ok(()),
                Err(kube::Error::Api(s)) if s.is_conflict() => {}
                Err(e) => return Err(self.ctx.api_error(e, "delete the lock Lease")),
            }
        }
        Err(self
            .ctx
            .lost("it kept changing while being released".to_string()))
    }

    fn owns(&self, lease: &Lease) -> bool {
        owns(lease, &self.holder, self.acquired)
    }
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("lease", &self.ctx.lease)
            .field("namespace", &self.ctx.namespace)
            .field("holder", &self.holder)
            .field("acquired", &self.acquired)
            .field("took_over", &self.took_over)
            .field("lost", &*self.lost.borrow())
            .finish_non_exhaustive()
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// A tenure is holder plus acquire time: the identity alone repeats when one process
/// takes the same lock twice.
fn owns(lease: &Lease, holder: &str, acquired: Option<Timestamp>) -> bool {
    lease.spec.as_ref().is_some_and(|s| {
        s.holder_identity.as_deref() == Some(holder)
            && s.acquire_time.as_ref().map(|t| t.0) == acquired
    })
}

/// Renews every ttl/3 until aborted or the lock is lost, which it reports on `lost`.
async fn renew(
    api: Api<Lease>,
    ctx: Ctx,
    mut lease: Lease,
    ttl: Duration,
    lost: watch::Sender<Option<String>>,
) {
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.unwrap_or_default();
    let acquired = spec.acquire_time.map(|t| t.0);
    let mut last_renewed = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval((ttl / 3).max(Duration::from_millis(100)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; we have just written the Lease
    loop {
        ticks.tick().await;
        if let Some(spec) = lease.spec.as_mut() {
            spec.renew_time = Some(MicroTime(Timestamp::now()));
        }
        // The client retries a transient failure until the operation's deadline; the
        // renewal may not wait that long: past the lease duration the lock is lost,
        // outage or not.
        let left = ttl.saturating_sub(last_renewed.elapsed());
        let renewal = tokio::time::timeout(
            left,
            api.replace(&ctx.lease, &PostParams::default(), &lease),
        )
        .await
        .unwrap_or_else(|_| {
            Err(kube::Error::Service(
                format!("no answer within {}s", left.as_secs_f64().ceil()).into(),
            ))
        });
        match renewal {
            Ok(written) => {
                lease = written;
                last_renewed = tokio::time::Instant::now();
                continue;
            }
            Err(kube::Error::Api(s)) if s.is_not_found() => {
                let _ = lost.send(Some(
                    "its Lease was deleted (by `stackctl unlock`?)".to_string(),
                ));
                return;
            }
            Err(kube::Error::Api(s)) if s.is_conflict() => {
                // Something changed the Lease: if it is still our tenure (someone
                // added a label, say) carry on from their version; otherwise we lost.
                match api.get_opt(&ctx.lease).await {
                    Ok(Some(current)) if owns(&current, &holder, acquired) => {
                        lease = current;
                        continue;
                    }
                    Ok(Some(current)) => {
                        let by = current
                            .spec
                            .and_then(|s| s.holder_identity)
                            .unwrap_or_default();
                        let _ = lost.send(Some(format!("{by} took it over")));
                        return;
                    }
                    Ok(None) => {
                        let _ = lost.send(Some(
                            "its Lease was deleted (by `stackctl unlock`?)".to_string(),
                        ));
                        return;
                    }
                    Err(e) => tracing::warn!(lease = %ctx.lease, "re-reading the lock: {e}"),
                }
            }
            Err(e) => tracing::warn!(lease = %ctx.lease, "renewing the lock: {e}"),
        }
        // Transient failures are retried; past the lease duration others may rightly
        // consider the lock expired, so we must stop claiming it.
        if last_renewed.elapsed() >= ttl {
            let _ = lost.send(Some(format!(
                "it could not be renewed for {}s (is the cluster reachable?)",
                ttl.as_secs_f64().ceil()
            )));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::holder::Process;
    use super::*;

    /// A machine where only this process runs.
    struct Alone(ProcessIdentity);

    impl Processes for Alone {
        fn current(&self) -> Option<ProcessIdentity> {
            Some(self.0.clone())
        }

        fn lookup(&self, pid: u32) -> Option<Process> {
            Some(if pid == self.0.pid {
                Process::Running {
                    start_ticks: self.0.start_ticks,
                }
            } else {
                Process::Gone
            })
        }
    }

    fn me() -> ProcessIdentity {
        ProcessIdentity {
            boot_id: "b".to_string(),
            pid_namespace: 1,
            pid: 10,
            start_ticks: 99,
        }
    }

    fn lease(process: Option<&ProcessIdentity>, now: Timestamp) -> Lease {
        new_lease(
            &Ctx::new("ns", "cv"),
            "me@host/pid-10/install",
            process,
            Duration::from_secs(30),
            now,
            None,
        )
    }

    #[test]
    fn a_fresh_lock_of_a_gone_local_process_is_abandoned() {
        let now = Timestamp::now();
        let gone = ProcessIdentity { pid: 11, ..me() };
        let info = LockInfo::from_lease(&lease(Some(&gone), now), now, &Alone(me())).unwrap();
        assert!(!info.is_expired());
        assert!(info.holder_dead && info.is_abandoned());
        assert_eq!(info.holder_process, Some(gone));
    }

    #[test]
    fn a_fresh_lock_of_a_live_or_unknown_holder_is_held() {
        let now = Timestamp::now();
        let foreign = ProcessIdentity {
            boot_id: "elsewhere".to_string(),
            pid: 11,
            ..me()
        };
        for process in [Some(me()), Some(foreign), None] {
            let info =
                LockInfo::from_lease(&lease(process.as_ref(), now), now, &Alone(me())).unwrap();
            assert!(!info.holder_dead && !info.is_abandoned(), "{process:?}");
        }
    }

    /// A Lease of the previous stackctl has no annotation: nothing is known of its
    /// holder, whose lock only expiry frees.
    #[test]
    fn a_lease_without_the_annotation_waits_for_expiry() {
        let now = Timestamp::now();
        let lease = lease(None, now);
        assert!(lease.metadata.annotations.is_none());
        let later = now + SignedDuration::from_secs(31);
        let info = LockInfo::from_lease(&lease, later, &Alone(me())).unwrap();
        assert!(info.is_expired() && info.is_abandoned() && !info.holder_dead);
    }
}
