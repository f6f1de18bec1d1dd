//! Whether a lock's holder is a process known to be gone.
//!
//! Expiry frees the lock of a holder that stopped, but only once its lease has run
//! out. When the holder ran on this machine (same boot) and in our PID namespace, its
//! pid means the same thing to us as it did to it, so we can look: if that pid no
//! longer exists, or belongs to a process started at another time (the pid was
//! reused), the holder is dead and waiting is pointless. Whatever cannot be proven
//! that way (another host or boot, another PID namespace such as a container sharing
//! the hostname, a Lease written before stackctl recorded the process, unreadable
//! `/proc`) is unknown, and waits for expiry.
//!
//! The facts come through [`Processes`], so that [`liveness`] is a pure function.

use std::fmt;
use std::str::FromStr;

/// The Lease annotation naming the holder's process, as [`ProcessIdentity`] displays.
/// The holder identity itself stays the `<user>@<host>/pid-<pid>/<operation>` people
/// read.
pub const ANNOTATION: &str = "stackctl.io/holder-process";

/// A process, told apart from every other one on any machine at any time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessIdentity {
    /// `/proc/sys/kernel/random/boot_id`: pids and start times only compare within
    /// one boot of one machine.
    pub boot_id: String,
    /// Inode of `/proc/self/ns/pid`: the same pid names different processes in
    /// different PID namespaces.
    pub pid_namespace: u64,
    pub pid: u32,
    /// Field 22 (`starttime`) of `/proc/<pid>/stat`, in clock ticks since boot: a
    /// reused pid has a later one.
    pub start_ticks: u64,
}

impl fmt::Display for ProcessIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "boot={},pidns={},pid={},start={}",
            self.boot_id, self.pid_namespace, self.pid, self.start_ticks
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ANNOTATION} {text:?} is not boot=<id>,pidns=<inode>,pid=<pid>,start=<ticks>: {problem}")]
pub struct ParseIdentityError {
    text: String,
    problem: &'static str,
}

impl FromStr for ProcessIdentity {
    type Err = ParseIdentityError;

    /// Strict: an unknown or repeated key is refused rather than skipped, because a
    /// later stackctl that adds a key does so for a reason this one cannot weigh, and
    /// unknown only costs waiting for expiry.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |problem| ParseIdentityError {
            text: text.to_string(),
            problem,
        };
        let (mut boot, mut pidns, mut pid, mut start) = (None, None, None, None);
        for field in text.split(',') {
            let (key, value) = field.split_once('=').ok_or(bad("a field has no `=`"))?;
            let slot = match key.trim() {
                "boot" => &mut boot,
                "pidns" => &mut pidns,
                "pid" => &mut pid,
                "start" => &mut start,
                _ => return Err(bad("unknown key")),
            };
            if slot.replace(value.trim()).is_some() {
                return Err(bad("repeated key"));
            }
        }
        let boot_id = boot
            .filter(|b| !b.is_empty())
            .ok_or(bad("no boot id"))?
            .to_string();
        let number = |v: Option<&str>, problem| v.and_then(|v| v.parse().ok()).ok_or(bad(problem));
        let pid = number(pid, "no pid")?;
        if pid == 0 {
            return Err(bad("pid 0 is no process"));
        }
        Ok(ProcessIdentity {
            boot_id,
            pid_namespace: number(pidns, "no PID namespace inode")?,
            pid: u32::try_from(pid).map_err(|_| bad("pid out of range"))?,
            start_ticks: number(start, "no start time")?,
        })
    }
}

/// What this machine says about a pid of our PID namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    Running { start_ticks: u64 },
    Gone,
}

/// The local facts [`liveness`] needs: `/proc` on Linux ([`LocalProcesses`]), fakes in
/// tests.
pub trait Processes {
    /// This process; `None` where it cannot be known.
    fn current(&self) -> Option<ProcessIdentity>;
    /// `None` when it cannot be told (unreadable, unparsable).
    fn lookup(&self, pid: u32) -> Option<Process>;
}

/// The verdict on a lock's holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Ran here and its process is gone: its lock can be taken over at once.
    Dead,
    /// Ran here and is still running.
    Alive,
    /// Cannot be told from here: only expiry frees its lock.
    Unknown,
}

/// Judges the holder whose Lease carries `annotation` (the value of [`ANNOTATION`]).
pub fn liveness(annotation: Option<&str>, local: &impl Processes) -> Liveness {
    let Some(holder) = annotation.and_then(|a| a.parse::<ProcessIdentity>().ok()) else {
        return Liveness::Unknown;
    };
    let Some(me) = local.current() else {
        return Liveness::Unknown;
    };
    if holder.boot_id != me.boot_id || holder.pid_namespace != me.pid_namespace {
        return Liveness::Unknown;
    }
    match local.lookup(holder.pid) {
        Some(Process::Gone) => Liveness::Dead,
        Some(Process::Running { start_ticks }) if start_ticks != holder.start_ticks => {
            Liveness::Dead
        }
        Some(Process::Running { .. }) => Liveness::Alive,
        None => Liveness::Unknown,
    }
}

/// This machine's processes, read from `/proc`; knows nothing outside Linux.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalProcesses;

#[cfg(target_os = "linux")]
impl Processes for LocalProcesses {
    fn current(&self) -> Option<ProcessIdentity> {
        let pid = std::process::id();
        // A /proc mounted for another PID namespace (a container's, say) would answer
        // for other processes than the pids we record and look up.
        let proc_self = std::fs::read_link("/proc/self").ok()?;
        if proc_self.to_str()? != pid.to_string() {
            return None;
        }
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        let boot_id = boot_id.trim();
        if boot_id.is_empty() || boot_id.contains([',', '=']) {
            return None;
        }
        let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        Some(ProcessIdentity {
            boot_id: boot_id.to_string(),
            pid_namespace: pid_namespace_inode(ns.to_str()?)?,
            pid,
            start_ticks: start_ticks(&stat)?,
        })
    }

    fn lookup(&self, pid: u32) -> Option<Process> {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => start_ticks(&stat).map(|start_ticks| Process::Running { start_ticks }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Process::Gone),
            Err(_) => None,
        }
    }
}

#[cfg(not(target_os = "linux"))]
impl Processes for LocalProcesses {
    fn current(&self) -> Option<ProcessIdentity> {
        None
    }

    fn lookup(&self, _pid: u32) -> Option<Process> {
        None
    }
}

/// `pid:[4026531836]` → 4026531836.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn pid_namespace_inode(link: &str) -> Option<u64> {
    link.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
}

/// Field 22 of a `/proc/<pid>/stat` line. Field 2, the command name, is in parentheses
/// and may itself hold spaces and parentheses, so fields are counted after the last
/// `)`, where field 3 begins.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn start_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Fake {
        me: Option<ProcessIdentity>,
        table: HashMap<u32, u64>,
        readable: bool,
    }

    impl Processes for Fake {
        fn current(&self) -> Option<ProcessIdentity> {
            self.me.clone()
        }

        fn lookup(&self, pid: u32) -> Option<Process> {
            if !self.readable {
                return None;
            }
            Some(match self.table.get(&pid) {
                Some(&start_ticks) => Process::Running { start_ticks },
                None => Process::Gone,
            })
        }
    }

    fn me() -> ProcessIdentity {
        ProcessIdentity {
            boot_id: "8d5c0c1e-4a8e-4c61-9f0e-2b1d6c2c7a11".to_string(),
            pid_namespace: 4_026_531_836,
            pid: 100,
            start_ticks: 5000,
        }
    }

    /// Us (pid 100) and pid 200, started at tick 7000.
    fn machine() -> Fake {
        Fake {
            me: Some(me()),
            table: [(100, 5000), (200, 7000)].into(),
            readable: true,
        }
    }

    fn holder(edit: impl FnOnce(&mut ProcessIdentity)) -> String {
        let mut h = ProcessIdentity {
            pid: 200,
            start_ticks: 7000,
            ..me()
        };
        edit(&mut h);
        h.to_string()
    }

    fn judge(annotation: &str) -> Liveness {
        liveness(Some(annotation), &machine())
    }

    #[test]
    fn same_boot_and_namespace_with_the_pid_gone_is_dead() {
        assert_eq!(judge(&holder(|h| h.pid = 300)), Liveness::Dead);
    }

    #[test]
    fn a_reused_pid_with_another_start_time_is_dead() {
        assert_eq!(judge(&holder(|h| h.start_ticks = 6000)), Liveness::Dead);
    }

    #[test]
    fn the_same_pid_and_start_time_is_alive() {
        assert_eq!(judge(&holder(|_| {})), Liveness::Alive);
        // Ourselves, holding the lock already.
        assert_eq!(judge(&me().to_string()), Liveness::Alive);
    }

    #[test]
    fn another_boot_is_unknown() {
        let other = holder(|h| {
            h.pid = 300;
            h.boot_id = "another-boot".to_string();
        });
        assert_eq!(judge(&other), Liveness::Unknown);
    }

    #[test]
    fn another_pid_namespace_is_unknown() {
        let other = holder(|h| {
            h.pid = 300;
            h.pid_namespace += 1;
        });
        assert_eq!(judge(&other), Liveness::Unknown);
    }

    /// Leases written by stackctl before the annotation existed.
    #[test]
    fn a_missing_annotation_is_unknown() {
        assert_eq!(liveness(None, &machine()), Liveness::Unknown);
    }

    #[test]
    fn garbage_is_unknown() {
        let gone = holder(|h| h.pid = 300);
        for garbage in [
            "",
            ",",
            "=",
            "nonsense",
            "boot=,pidns=1,pid=300,start=1",
            "boot=x,pidns=1,pid=300",
            "boot=x,pidns=1,pid=0,start=1",
            "boot=x,pidns=1,pid=-3,start=1",
            "boot=x,pidns=1,pid=99999999999,start=1",
            "boot=x,pidns=pid:[1],pid=300,start=1",
            "boot=x,pidns=1,pid=300,start=1,start=1",
            &format!("{gone},extra=1"),
            &format!("{gone},"),
            "\u{0}\u{ffff}=)(",
        ] {
            assert_eq!(judge(garbage), Liveness::Unknown, "{garbage:?}");
        }
    }

    #[test]
    fn without_local_facts_everything_is_unknown() {
        let gone = holder(|h| h.pid = 300);
        let no_proc = Fake {
            me: None,
            ..machine()
        };
        assert_eq!(liveness(Some(&gone), &no_proc), Liveness::Unknown);
        let unreadable = Fake {
            readable: false,
            ..machine()
        };
        assert_eq!(liveness(Some(&gone), &unreadable), Liveness::Unknown);
    }

    #[test]
    fn identities_read_back_as_written() {
        let id = me();
        assert_eq!(
            id.to_string(),
            "boot=8d5c0c1e-4a8e-4c61-9f0e-2b1d6c2c7a11,pidns=4026531836,pid=100,start=5000"
        );
        assert_eq!(id.to_string().parse(), Ok(id));
    }

    #[test]
    fn start_time_is_counted_after_the_command_name() {
        let stat = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                    987654 1000 100 18446744073709551615";
        assert_eq!(start_ticks(stat), Some(987_654));
        assert_eq!(start_ticks("4242 (short) S 1"), None);
        assert_eq!(start_ticks("no parenthesis"), None);
    }

    #[test]
    fn pid_namespace_links_give_their_inode() {
        assert_eq!(pid_namespace_inode("pid:[4026531836]"), Some(4_026_531_836));
        assert_eq!(pid_namespace_inode("net:[4026531836]"), None);
        assert_eq!(pid_namespace_inode("pid:[x]"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_alive_and_an_unused_pid_is_dead() {
        let local = LocalProcesses;
        let me = local.current().expect("/proc describes this process");
        assert_eq!(me.pid, std::process::id());
        assert_eq!(liveness(Some(&me.to_string()), &local), Liveness::Alive);
        // A child that has exited and been reaped leaves its pid unused.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let gone = ProcessIdentity { pid, ..me };
        assert_eq!(liveness(Some(&gone.to_string()), &local), Liveness::Dead);
    }
}
