//! The engine's vocabulary, shared by every layer and depending on none: the objects
//! a stack renders ([`Manifest`], [`Rendered`]), the [`Phase`] they are applied in,
//! the [`Release`] they belong to, what the cluster serves ([`Capabilities`]), the
//! connectivity checks a stack asks for ([`ProbeSpec`]), the connections its components
//! open ([`Flow`]), and the label and annotation names the engine reads back from the
//! cluster.

mod backup;
mod capabilities;
mod credentials;
mod flow;
mod labels;
mod manifest;
mod phase;
mod probe;
mod release;

pub use backup::{
    BACKUP_OF_LABEL, BackupSettings, BackupSpec, CredentialFile, S3_SECRET_KEYS, S3Target, Step,
    VolumeCopy,
};
pub use capabilities::{Capabilities, KubeRequirement};
pub use credentials::{InitOnlyChange, ROTATION_SECRET_SUFFIX, Rotation, RotationJob};
pub use flow::{API_SERVER_PORTS, Flow, Peer, Proto, ports_text, tcp};
pub use labels::*;
pub use manifest::{Manifest, Rendered, to_yaml, with_pods};
pub use phase::Phase;
pub use probe::{
    DEFAULT_PROBE_TIMEOUT, FanOut, PROBE_APP_NAME, PROBE_LABEL, ProbeSpec, external_probes,
    probe_labels, secret_refs,
};
pub use release::{MAX_RELEASE_NAME, Release, ReleaseNameError, check_release_name};
