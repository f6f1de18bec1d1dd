//! The pod side of the kubelet: one task per pod bound to one of our nodes, which
//! replays the pod's simulated timeline (see `lifecycle`) into its status and events.

use std::collections::{HashMap, HashSet};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client};
use serde_json::json;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::events::{Recorder, Source, pod_ref};
use crate::ipam::Ipam;
use crate::lifecycle::{Plan, Sim, carry_transitions, is_job_pod};
use crate::timing::{self, Puller, Realistic, Timeline, Wait};
use crate::{faults, status_code};

pub struct Kubelet {
    pub client: Client,
    /// Node name → InternalIP, for the nodes we play.
    pub nodes: HashMap<String, String>,
    pub step: Duration,
    pub recorder: Recorder,
    pub ipam: Mutex<Ipam>,
    /// Realistic timings: the clock of the pull lanes.
    pub origin: Instant,
    /// Realistic timings: node name → its image cache and pull lane.
    pub pullers: Mutex<HashMap<String, Puller>>,
    /// Realistic timings: claims (`namespace/name`) a pod has started on before, so a
    /// later pod on them restarts on used data instead of initialising it.
    pub used_claims: Mutex<HashSet<String>>,
}

enum Entry {
    Running(JoinHandle<()>),
    Deleting,
    /// Already Succeeded/Failed when we first saw it: kubelet never touches those again.
    Finished,
}

pub async fn run(kubelet: Arc<Kubelet>) {
    let api: Api<Pod> = Api::all(kubelet.client.clone());
    // Unscheduled pods are the scheduler's business.
    let config = watcher::Config::default().fields("spec.nodeName!=");
    let mut stream = pin!(watcher(api, config).default_backoff());
    let mut pods: HashMap<String, Entry> = HashMap::new();
    let mut relisted: Option<HashSet<String>> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => relisted = Some(HashSet::new()),
            Ok(Event::InitApply(pod)) => {
                if let Some(seen) = relisted.as_mut() {
                    seen.insert(uid(&pod).to_owned());
                }
                kubelet.observe(&mut pods, pod);
            }
            // Pods deleted while the watch was down never got a Delete event.
            Ok(Event::InitDone) => {
                if let Some(seen) = relisted.take() {
                    let gone: Vec<String> = pods
                        .keys()
                        .filter(|u| !seen.contains(*u))
                        .cloned()
                        .collect();
                    for uid in gone {
                        kubelet.forget(&mut pods, &uid);
                    }
                }
            }
            Ok(Event::Apply(pod)) => kubelet.observe(&mut pods, pod),
            Ok(Event::Delete(pod)) => kubelet.forget(&mut pods, uid(&pod)),
            Err(e) => warn!("pod watch: {e}"),
        }
    }
}

fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.node_name.as_deref()
}

impl Kubelet {
    fn observe(self: &Arc<Self>, pods: &mut HashMap<String, Entry>, pod: Pod) {
        let Some(host_ip) = node_of(&pod).and_then(|n| self.nodes.get(n)).cloned() else {
            return;
        };
        let uid = uid(&pod).to_owned();
        if pod.metadata.deletion_timestamp.is_some() {
            match pods.get(&uid) {
                Some(Entry::Deleting) => return,
                Some(Entry::Running(task)) => task.abort(),
                _ => {}
            }
            pods.insert(uid, Entry::Deleting);
            tokio::spawn(Arc::clone(self).remove(pod));
            return;
        }
        if pods.contains_key(&uid) {
            return;
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            pods.insert(uid, Entry::Finished);
            return;
        }
        let task = tokio::spawn(Arc::clone(self).drive(pod, host_ip));
        pods.insert(uid, Entry::Running(task));
    }

    fn forget(&self, pods: &mut HashMap<String, Entry>, uid: &str) {
        if let Some(Entry::Running(task)) = pods.remove(uid) {
            task.abort();
        }
        self.ipam.lock().expect("ipam poisoned").release(uid);
        self.recorder.forget(uid);
    }

    /// Plays the pod's timeline until it ends (terminal phase or nothing left to change).
    async fn drive(self: Arc<Self>, pod: Pod, host_ip: String) {
        let api: Api<Pod> = Api::namespaced(
            self.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
        );
        let name = pod.metadata.name.clone().unwrap_or_default();
        let node = node_of(&pod).unwrap_or_default().to_owned();
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();

        let rule = faults::load(&self.client, &namespace)
            .await
            .for_pod(&name)
            .cloned();
        if let Some(rule) = &rule {
            info!(namespace, pod = name, rule = rule.key, glob = rule.pattern, fault = ?rule.kind, "injecting fault");
        }
        let plan = Plan::new(&pod, rule.as_ref());
        let mut timeline = timing::load(&self.client, &namespace)
            .await
            .map(|model| self.timeline(&pod, &node, &namespace, &model));
        let status = pod.status.clone().unwrap_or_default();
        let host_network = pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        let pod_ip = if host_network {
            host_ip.clone()
        } else {
            self.ipam
                .lock()
                .expect("ipam poisoned")
                .allocate(uid(&pod), status.pod_ip.as_deref())
                .to_string()
        };
        // After a simnode restart the timeline resumes from the recorded start, and
        // events from before the restart are not sent again.
        let (start, mut events_until) = match status.start_time.as_ref() {
            Some(t) => (t.0, Some(elapsed_since(t.0))),
            None => (Timestamp::now(), None),
        };
        debug!(
            namespace,
            pod = name,
            node,
            pod_ip,
            job = is_job_pod(&pod),
            "driving pod"
        );
        let mut current = pod.status.clone();

        loop {
            let now = elapsed_since(start);
            let sim = Sim {
                pod: &pod,
                plan: &plan,
                start,
                step: self.step,
                host_ip: &host_ip,
                pod_ip: &pod_ip,
                timing: timeline.as_ref(),
            };
            let snapshot = sim.at(now);
            let mut poll = None;
            if let (Some((init, index)), Some(t)) = (snapshot.blocked_on, timeline.as_mut()) {
                let spec = pod.spec.as_ref();
                let container = if init {
                    spec.and_then(|s| s.init_containers.as_ref())
                        .and_then(|cs| cs.get(index))
                } else {
                    spec.and_then(|s| s.containers.get(index))
                };
                let answered = match container.and_then(|c| t.target(init, index, c)) {
                    Some((host, port)) => {
                        timing::answers(&self.client, &namespace, &host, port).await
                    }
                    None => true,
                };
                let prep = if init { &mut t.init } else { &mut t.main };
                if let Some(prep) = prep.get_mut(index) {
                    if answered {
                        prep.wait = Wait::Done(elapsed_since(start));
                        continue;
                    }
                    // A pending wait polls again like the script does.
                    poll = Some(now + prep.poll);
                }
            }
            let mut next = snapshot.status;
            carry_transitions(current.as_ref(), &mut next);
            if current.as_ref() != Some(&next) {
                match api
                    .patch_status(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({ "status": next })),
                    )
                    .await
                {
                    Ok(_) => {
                        if current.as_ref().and_then(|s| s.phase.as_ref()) != next.phase.as_ref() {
                            info!(
                                namespace,
                                pod = name,
                                phase = next.phase.as_deref(),
                                "pod phase"
                            );
                        }
                        current = Some(next);
                    }
                    Err(e) if status_code(&e) == Some(404) => return,
                    Err(e)
                        if matches!(status_code(&e), Some(400..=499))
                            && !matches!(status_code(&e), Some(409 | 429)) =>
                    {
                        // The server will not accept this status; retrying cannot help.
                        warn!(namespace, pod = name, "pod status rejected: {e}");
                        current = Some(next);
                    }
                    Err(e) => {
                        warn!(
                            namespace,
                            pod = name,
                            "cannot update pod status, retrying: {e}"
                        );
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        continue;
                    }
                }
            }
            for event in snapshot
                .events
                .iter()
                .filter(|e| events_until.is_none_or(|u| e.at > u))
            {
                let object = pod_ref(&pod, Some(&event.field_path));
                let source = Source {
                    component: "kubelet",
                    host: Some(&node),
                };
                self.recorder
                    .record(&object, source, event.warning, event.reason, &event.message)
                    .await;
            }
            events_until = Some(now);
            let next = match (snapshot.next, poll) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match next {
                Some(next) if !snapshot.terminal => {
                    tokio::time::sleep(
                        next.saturating_sub(elapsed_since(start))
                            .max(Duration::from_millis(10)),
                    )
                    .await;
                }
                _ => return,
            }
        }
    }

    /// Realistic timings of a pod the node just picked up: its images are queued on the
    /// node's pull lane now, its data services start fresh unless a pod ran on its
    /// claims before. A pod already started (simnode restarted) finds its images there.
    fn timeline(&self, pod: &Pod, node: &str, namespace: &str, model: &Realistic) -> Timeline {
        let Some(spec) = pod.spec.as_ref() else {
            return Timeline::default();
        };
        let claims: Vec<String> = spec
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| v.persistent_volume_claim.as_ref())
            .map(|c| format!("{namespace}/{}", c.claim_name))
            .collect();
        let fresh = {
            let mut used = self.used_claims.lock().expect("claims poisoned");
            let fresh = claims.is_empty() || !claims.iter().all(|c| used.contains(c));
            used.extend(claims);
            fresh
        };
        let resumed = pod.status.as_ref().and_then(|s| s.start_time.as_ref());
        let since_start = resumed.map_or(Duration::ZERO, |t| elapsed_since(t.0));
        let mut pullers = self.pullers.lock().expect("pullers poisoned");
        let lane = pullers.entry(node.to_owned()).or_default();
        let now = self.origin.elapsed();
        Timeline::new(spec, model, fresh, is_job_pod(pod), |c| {
            if resumed.is_some() {
                return Duration::ZERO;
            }
            let image = c.image.as_deref().unwrap_or_default();
            let at = lane.available_at(namespace, image, timing::pull_policy(c), now, model);
            at.saturating_sub(now) + since_start
        })
    }

    /// What kubelet does once the containers of a deleted pod are stopped: the final
    /// delete with grace period 0. The uid precondition protects a same-named successor
    /// (StatefulSets reuse names).
    async fn remove(self: Arc<Self>, pod: Pod) {
        let (Some(namespace), Some(name)) =
            (pod.metadata.namespace.clone(), pod.metadata.name.clone())
        else {
            return;
        };
        let node = node_of(&pod).unwrap_or_default().to_owned();
        let running = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten();
        for c in running.filter(|c| c.state.as_ref().is_some_and(|s| s.running.is_some())) {
            let object = pod_ref(&pod, Some(&format!("spec.containers{{{}}}", c.name)));
            let source = Source {
                component: "kubelet",
                host: Some(&node),
            };
            self.recorder
                .record(
                    &object,
                    source,
                    false,
                    "Killing",
                    &format!("Stopping container {}", c.name),
                )
                .await;
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        // Like kubelet, keep trying until the pod is gone: a pod left Terminating blocks
        // StatefulSets, Jobs and namespace deletion.
        let mut delay = Duration::from_millis(500);
        loop {
            match api.delete(&name, &params).await {
                Ok(_) => {
                    info!(namespace, pod = name, "pod removed");
                    return;
                }
                Err(e) if matches!(status_code(&e), Some(404 | 409)) => return,
                Err(e) => {
                    warn!(namespace, pod = name, "cannot remove pod, retrying: {e}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}

fn elapsed_since(start: Timestamp) -> Duration {
    let d = Timestamp::now().duration_since(start);
    Duration::try_from(d).unwrap_or(Duration::ZERO)
}
