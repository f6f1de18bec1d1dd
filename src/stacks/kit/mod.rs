//! The stack kit: what every stack needs and used to copy — the render context and
//! its helpers, credentials Secrets, the internal-or-external choice of a
//! dependency, the notes line that says how to read a Secret, and the value types
//! whose keys must mean the same in every stack (`global`, `ingress`,
//! `persistence`, `external`). A stack brings its own values and components and
//! reaches for these instead of writing them again.

pub mod backup;
pub mod connections;
pub mod ctx;
pub mod netpol;
pub mod prometheus;
pub mod redis;
pub mod rotation;
#[cfg(test)]
pub mod testing;
pub mod values;

pub use connections::{Database, SecretKey, Side, credentials_secret, read_secret_command, side};
pub use ctx::{Ctx, DATA_VOLUME, StackValues, Wiring};
pub use values::{
    DnsPolicy, ExternalDatabase, ExternalRedis, Global, GlobalExtras, Ingress, IngressTls,
    NetworkPolicy, NoExtras, Persistence, PolicyPeer, Rbac, ServiceAccount, check_service_account,
    keyed_peers,
};

#[cfg(test)]
mod tests;
