//! The three phases every release is applied in.

use std::fmt;

use serde::Serialize;

/// Install phases, applied in this order; a phase ends only when all of it is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Namespaced plumbing every later object may need: config, secrets, RBAC, storage.
    Storage,
    /// Data services: databases, caches, queues.
    Data,
    /// Applications and everything that routes to them.
    Apps,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Storage, Phase::Data, Phase::Apps];

    pub fn parse(s: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Storage => "storage",
            Phase::Data => "data",
            Phase::Apps => "apps",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
