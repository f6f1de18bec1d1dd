//! Inside a phase, each component starts as soon as the components it depends on in
//! that phase are ready, not when a whole wave of them is: in waves, ClickVisual's
//! schema Job waited for the slowest of MySQL, ClickHouse and Kafka though it needs
//! only MySQL, and on realistic timings that was most of what an install lost to
//! Helm. Phases still run one after another (the caller's loop), so no main
//! container of a later phase starts before the earlier phase is ready.
//!
//! Pure over its futures, so the order is tested with paused time, not a cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use futures::stream::{FuturesUnordered, StreamExt};

/// What a component's run says about the rest of the phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ready,
    /// It failed; `keep_waiting`: the components already running are still waited
    /// for (a timeout: they reach the same deadline at once, and what each was
    /// waiting for belongs in the report), else they are dropped at once.
    Failed {
        keep_waiting: bool,
    },
}

/// How a component's run ended.
#[derive(Debug)]
pub enum Run<T> {
    Done(T),
    /// Started, then dropped when another component failed: applied (perhaps only
    /// partly, if the failure came while it was being applied), not waited for.
    Dropped,
    /// Never started: a failure came first.
    NotStarted,
}

/// Runs `start(component)` for each component of `order` once every component it
/// depends on (`deps`, those of them in `order`) has run to [`Verdict::Ready`];
/// the ones ready to start, concurrently. After the first failure no component is
/// started. Returns each component's run, in `order`.
pub async fn run<'a, T, F, Fut>(
    order: &'a [String],
    deps: &BTreeMap<String, Vec<String>>,
    mut start: F,
    verdict: impl Fn(&T) -> Verdict,
) -> Vec<(String, Run<T>)>
where
    F: FnMut(&'a str) -> Fut,
    Fut: Future<Output = T>,
{
    let in_phase: BTreeSet<&str> = order.iter().map(String::as_str).collect();
    let waits_for = |c: &str| -> Vec<&str> {
        deps.get(c)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .filter(|d| *d != c && in_phase.contains(d))
            .collect()
    };
    let mut done: BTreeMap<&str, T> = BTreeMap::new();
    let mut ready: BTreeSet<&str> = BTreeSet::new();
    let mut started: BTreeSet<&str> = BTreeSet::new();
    let mut running = FuturesUnordered::new();
    let mut failed = false;
    loop {
        if !failed {
            for c in order {
                let c = c.as_str();
                if !started.contains(c) && waits_for(c).iter().all(|d| ready.contains(d)) {
                    started.insert(c);
                    let run = start(c);
                    running.push(async move { (c, run.await) });
                }
            }
        }
        let Some((c, out)) = running.next().await else {
            break;
        };
        let stop = match verdict(&out) {
            Verdict::Ready => {
                ready.insert(c);
                false
            }
            Verdict::Failed { keep_waiting } => {
                failed = true;
                !keep_waiting
            }
        };
        done.insert(c, out);
        if stop {
            break;
        }
    }
    // Whatever still runs is dropped here.
    drop(running);
    order
        .iter()
        .map(|c| {
            let run = match done.remove(c.as_str()) {
                Some(out) => Run::Done(out),
                None if started.contains(c.as_str()) => Run::Dropped,
                None => Run::NotStarted,
            };
            (c.clone(), run)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;
    use tokio::time::Instant;

    /// Each component: how long it takes and whether it ends ready; `keep` is the
    /// failure's keep_waiting.
    #[derive(Clone, Copy)]
    struct Part {
        secs: u64,
        ok: bool,
        keep: bool,
    }

    const fn ok(secs: u64) -> Part {
        Part {
            secs,
            ok: true,
            keep: false,
        }
    }

    const fn failing(secs: u64, keep: bool) -> Part {
        Part {
            secs,
            ok: false,
            keep,
        }
    }

    /// Runs the parts; returns each one's start time (seconds from the beginning)
    /// and how its run ended.
    async fn schedule(
        parts: &[(&str, Part)],
        deps: &[(&str, &[&str])],
    ) -> Vec<(String, Option<u64>, &'static str)> {
        let order: Vec<String> = parts.iter().map(|(c, _)| (*c).to_string()).collect();
        let deps: BTreeMap<String, Vec<String>> = deps
            .iter()
            .map(|(c, d)| {
                (
                    (*c).to_string(),
                    d.iter().map(|s| (*s).to_string()).collect(),
                )
            })
            .collect();
        let began = Instant::now();
        let starts = Mutex::new(BTreeMap::new());
        let runs = run(
            &order,
            &deps,
            |c| {
                let part = parts.iter().find(|(n, _)| *n == c).unwrap().1;
                starts
                    .lock()
                    .unwrap()
                    .insert(c.to_string(), began.elapsed().as_secs());
                async move {
                    tokio::time::sleep(Duration::from_secs(part.secs)).await;
                    part
                }
            },
            |p: &Part| {
                if p.ok {
                    Verdict::Ready
                } else {
                    Verdict::Failed {
                        keep_waiting: p.keep,
                    }
                }
            },
        )
        .await;
        let starts = starts.into_inner().unwrap();
        runs.into_iter()
            .map(|(c, r)| {
                let how = match r {
                    Run::Done(p) if p.ok => "ready",
                    Run::Done(_) => "failed",
                    Run::Dropped => "dropped",
                    Run::NotStarted => "not started",
                };
                let at = starts.get(&c).copied();
                (c, at, how)
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_component_starts_when_its_own_dependencies_are_ready() {
        // MySQL is ready at 20 s, ClickHouse at 60 s: the schema Job, which needs
        // only MySQL, starts at 20 s, not at 60 s as a wave would have it; Kafka
        // after ZooKeeper; a dependency outside the phase (`secrets`) is met.
        let got = schedule(
            &[
                ("mysql", ok(20)),
                ("clickhouse", ok(60)),
                ("zookeeper", ok(10)),
                ("kafka", ok(30)),
                ("schema", ok(5)),
            ],
            &[("schema", &["mysql", "secrets"]), ("kafka", &["zookeeper"])],
        )
        .await;
        assert_eq!(
            got,
            vec![
                ("mysql".into(), Some(0), "ready"),
                ("clickhouse".into(), Some(0), "ready"),
                ("zookeeper".into(), Some(0), "ready"),
                ("kafka".into(), Some(10), "ready"),
                ("schema".into(), Some(20), "ready"),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_starts_nothing_more_and_drops_what_runs() {
        let crash = failing(5, false);
        let got = schedule(
            &[("mysql", crash), ("clickhouse", ok(60)), ("schema", ok(1))],
            &[("schema", &["mysql"])],
        )
        .await;
        assert_eq!(
            got,
            vec![
                ("mysql".into(), Some(0), "failed"),
                ("clickhouse".into(), Some(0), "dropped"),
                ("schema".into(), None, "not started"),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_still_waits_for_the_others_but_starts_nothing() {
        let got = schedule(
            &[
                ("mysql", failing(30, true)),
                ("clickhouse", failing(30, true)),
                ("kafka", ok(10)),
                ("schema", ok(1)),
            ],
            &[("schema", &["mysql"])],
        )
        .await;
        assert_eq!(
            got,
            vec![
                ("mysql".into(), Some(0), "failed"),
                ("clickhouse".into(), Some(0), "failed"),
                ("kafka".into(), Some(0), "ready"),
                ("schema".into(), None, "not started"),
            ]
        );
    }
}
