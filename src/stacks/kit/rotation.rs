//! The one shape of rotating a bundled database's passwords in place: a Job from
//! the database's own image logs in as the admin with the current password and sets
//! the new admin and app passwords (each empty when it stays). Every password
//! reaches the Job as `secretKeyRef` env from the operation's temporary Secret
//! (`<release>-credential-rotation`), never in its spec; the script reads
//! `HOST`, `PORT`, `ADMIN_PASSWORD`, `NEW_ADMIN_PASSWORD`, `NEW_APP_PASSWORD` and
//! whatever plain settings the database needs (see `stacks::rotation_scripts`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::EnvVar;

use super::{Ctx, StackValues};
use crate::model::{ROTATION_SECRET_SUFFIX, RotationJob};
use crate::stacks::workload as w;

/// One database's admin and app accounts, and the script that rotates them.
pub struct Accounts<'a> {
    /// The component whose image runs the Job (it carries the client): `mysql`.
    pub component: &'static str,
    /// The values keys of the admin's and the app's password.
    pub admin_key: &'static str,
    pub app_key: &'static str,
    pub host: &'a str,
    pub port: u16,
    /// The admin's password the service holds now, and the new ones.
    pub admin_password: &'a str,
    pub new_admin_password: &'a str,
    pub new_app_password: &'a str,
    pub script: &'static str,
    /// Plain settings of the script: the admin's and the app's account names.
    pub settings: Vec<EnvVar>,
    /// The component's image and pull policy.
    pub image: (String, String),
}

/// The Job rotating those of `keys` that are the admin's or the app's password;
/// none when neither is.
pub fn job<V: StackValues, C>(
    ctx: &Ctx<'_, V, C>,
    keys: &[&str],
    a: Accounts<'_>,
) -> Vec<RotationJob> {
    let rotate: Vec<&'static str> = [a.admin_key, a.app_key]
        .into_iter()
        .filter(|k| keys.contains(k))
        .collect();
    if rotate.is_empty() {
        return Vec::new();
    }
    let new_if = |key, value: &str| {
        if rotate.contains(&key) {
            value.to_string()
        } else {
            String::new()
        }
    };
    let c = a.component;
    let secret = BTreeMap::from([
        (format!("{c}-admin-password"), a.admin_password.to_string()),
        (
            format!("{c}-new-admin-password"),
            new_if(a.admin_key, a.new_admin_password),
        ),
        (
            format!("{c}-new-app-password"),
            new_if(a.app_key, a.new_app_password),
        ),
    ]);
    let secret_name = ctx.release.object_name(ROTATION_SECRET_SUFFIX);
    let from_secret =
        |env: &str, key: &str| w::env_secret(env, &secret_name, &format!("{c}-{key}"));
    let mut env = vec![w::env("HOST", a.host), w::env("PORT", a.port.to_string())];
    env.extend(a.settings);
    env.extend([
        from_secret("ADMIN_PASSWORD", "admin-password"),
        from_secret("NEW_ADMIN_PASSWORD", "new-admin-password"),
        from_secret("NEW_APP_PASSWORD", "new-app-password"),
    ]);
    let probe = crate::model::ProbeSpec {
        target: format!("{}:{}", a.host, a.port),
        check: format!("new passwords for {}", rotate.join(", ")),
        script: a.script,
        env,
        ..ctx.probe_base(&format!("rotate-{c}"), a.image)
    };
    vec![RotationJob {
        probe,
        keys: rotate,
        secret,
    }]
}
