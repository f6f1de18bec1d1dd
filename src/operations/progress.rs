//! What a person sees while an operation runs: progress bars per phase and component
//! on a terminal, plain timestamped lines in CI or with `--no-progress`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::model::Phase;
use crate::release::Outcome;

enum Mode {
    Bars(MultiProgress),
    Lines,
    Quiet,
}

pub struct Reporter {
    mode: Mode,
    started: Instant,
    bars: Mutex<HashMap<String, ProgressBar>>,
    /// Last detail printed per component in line mode: watch events repeat states,
    /// and a log should show changes only.
    last_detail: Mutex<HashMap<String, String>>,
}

impl Reporter {
    /// Bars only when stderr is a terminal and nothing asked for plain output.
    pub fn new(quiet: bool, no_progress: bool) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if no_progress
            || !std::io::stderr().is_terminal()
            || std::env::var_os("CI").is_some()
        {
            Mode::Lines
        } else {
            let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            crate::output::route_warnings_through(Some(bars.clone()));
            Mode::Bars(bars)
        };
        Reporter {
            mode,
            started: Instant::now(),
            bars: Mutex::new(HashMap::new()),
            last_detail: Mutex::new(HashMap::new()),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// A line of information, above the bars or timestamped.
    pub fn info(&self, msg: impl AsRef<str>) {
        match &self.mode {
            Mode::Bars(m) => {
                let _ = m.println(msg.as_ref());
            }
            Mode::Lines => eprintln!("[{:>6.1}s] {}", self.elapsed().as_secs_f64(), msg.as_ref()),
            Mode::Quiet => {}
        }
    }

    /// A warning is shown even in quiet mode (see [`crate::output::warn`]).
    pub fn warn(&self, msg: impl AsRef<str>) {
        crate::output::warn(msg);
    }

    /// Starts tracking one component of a phase with `total` objects to become ready.
    pub fn component_started(&self, phase: Phase, component: &str, total: usize) {
        let key = format!("{phase}/{component}");
        match &self.mode {
            Mode::Bars(m) => {
                let bar = m.add(ProgressBar::new(total as u64));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>8.bold} {spinner} {msg:<44} {pos}/{len} ready  {elapsed:>4}",
                    )
                    .expect("static template")
                    .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✔"),
                );
                bar.set_prefix(phase.to_string());
                bar.set_message(component.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                self.bars
                    .lock()
                    .expect("no panics while locked")
                    .insert(key, bar);
            }
            Mode::Lines => self.info(format!(
                "{phase}: applying {component} ({total} object{})",
                if total == 1 { "" } else { "s" }
            )),
            Mode::Quiet => {}
        }
    }

    /// Updates a component's count of ready objects and what it is waiting for.
    pub fn component_progress(&self, phase: Phase, component: &str, ready: usize, detail: &str) {
        let key = format!("{phase}/{component}");
        match &self.mode {
            Mode::Bars(_) => {
                if let Some(bar) = self.bars.lock().expect("no panics while locked").get(&key) {
                    bar.set_position(ready as u64);
                    if detail.is_empty() {
                        bar.set_message(component.to_string());
                    } else {
                        bar.set_message(format!("{component}: {detail}"));
                    }
                }
            }
            Mode::Lines if !detail.is_empty() => {
                let changed = self
                    .last_detail
                    .lock()
                    .expect("no panics while locked")
                    .insert(key, detail.to_string())
                    .is_none_or(|previous| previous != detail);
                if changed {
                    self.info(format!("{phase}: {component}: {detail}"));
                }
            }
            _ => {}
        }
    }

    /// Ends a component's wave with its own outcome: a wave that failed because of
    /// one component must not paint the others failed.
    pub fn component_done(&self, phase: Phase, component: &str, outcome: Outcome) {
        let key = format!("{phase}/{component}");
        match &self.mode {
            Mode::Bars(m) => {
                if let Some(bar) = self
                    .bars
                    .lock()
                    .expect("no panics while locked")
                    .remove(&key)
                {
                    // A finished bar is replaced by a permanent line, so the screen keeps
                    // a record of every component once the operation ends.
                    let total = bar.length().unwrap_or(0);
                    let (mark, ready, note) = match outcome {
                        Outcome::Ready => ("✔", total, ""),
                        Outcome::Failed => ("✘", bar.position(), "  failed"),
                        Outcome::NotWaitedFor => ("–", bar.position(), "  not waited for"),
                        Outcome::NotStarted => ("·", 0, "  not started"),
                    };
                    let line = format!(
                        "{:>8} {mark} {component:<44} {ready}/{total} ready  {:.1}s{note}",
                        phase.as_str(),
                        bar.elapsed().as_secs_f64()
                    );
                    bar.finish_and_clear();
                    m.remove(&bar);
                    let _ = m.println(line);
                }
            }
            Mode::Lines => self.info(format!(
                "{phase}: {component} {}",
                match outcome {
                    Outcome::Ready => "ready",
                    Outcome::Failed => "FAILED",
                    // Said in full: a bare "not waited for" could read as skipped.
                    Outcome::NotWaitedFor => {
                        "not waited for (still progressing when another component of its wave failed)"
                    }
                    Outcome::NotStarted => "not started",
                }
            )),
            Mode::Quiet => {}
        }
    }

    /// A component of a wave or phase after a failure: never applied.
    pub fn component_not_started(&self, phase: Phase, component: &str) {
        match &self.mode {
            Mode::Bars(m) => {
                let _ = m.println(format!(
                    "{:>8} · {component:<44} not started",
                    phase.as_str()
                ));
            }
            Mode::Lines => self.info(format!("{phase}: {component} not started")),
            Mode::Quiet => {}
        }
    }

    pub fn phase_done(&self, phase: Phase, took: Duration) {
        self.phase_done_named(phase.as_str(), took);
    }

    pub fn phase_done_named(&self, phase: &str, took: Duration) {
        self.info(format!("phase {phase} ready in {:.1}s", took.as_secs_f64()));
    }

    /// Removes any bars still drawn (on errors), so messages print cleanly.
    pub fn clear(&self) {
        if let Mode::Bars(m) = &self.mode {
            for (_, bar) in self.bars.lock().expect("no panics while locked").drain() {
                bar.abandon();
            }
            let _ = m.clear();
        }
    }
}
