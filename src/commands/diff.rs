//! `stackctl diff`: what an upgrade would change, computed by the API server itself
//! (server-side apply with dryRun=All) against the live objects, secrets redacted.

use anyhow::Result;
use serde_json::Value;
use similar::TextDiff;

use super::operate::{manifests_of, plan_upgrade};
use crate::apply::apply_one;
use crate::cli::{DiffArgs, GlobalArgs};
use crate::lifecycle::Session;
use crate::plan::{Plan, to_yaml};
use crate::stacks::component::Manifest;

pub async fn run(global: &GlobalArgs, args: &DiffArgs) -> Result<()> {
    let session = Session::connect(global).await?;
    let (_, current, plan) = plan_upgrade(global, &args.upgrade, &session).await?;
    let text = render_diff(&session, &plan, &manifests_of(&current)).await?;
    if text.is_empty() {
        println!("no changes");
    } else {
        print!("{text}");
    }
    Ok(())
}

/// A unified diff per changed object, live → would-be. An object named for its
/// revision is compared, as rendered, with its counterpart in `previous` (the
/// release's objects): its own name does not exist yet.
pub async fn render_diff(session: &Session, plan: &Plan, previous: &[Manifest]) -> Result<String> {
    let mut out = String::new();
    for m in plan.manifests() {
        if let Some(p) = previous.iter().find(|p| m.is_counterpart_of(p)) {
            let before_text = to_yaml(&normalize(p.revision_neutral_body()))?;
            let after_text = to_yaml(&normalize(m.revision_neutral_body()))?;
            if before_text != after_text {
                let before = format!("previous {}", p.id());
                out.push_str(&unified(&before_text, &after_text, &before, &m.id()));
            }
            continue;
        }
        let api = session.resolver.api_for(m).await?;
        let live = api
            .get_opt(&m.name)
            .await?
            .map(serde_json::to_value)
            .transpose()?;
        let after = serde_json::to_value(apply_one(&session.resolver, m, true).await?)?;
        let before_text = live
            .map(|v| to_yaml(&normalize(v)))
            .transpose()?
            .unwrap_or_default();
        let after_text = to_yaml(&normalize(after))?;
        if before_text == after_text {
            continue;
        }
        let before = format!("live {}", m.id());
        out.push_str(&unified(&before_text, &after_text, &before, &m.id()));
    }
    Ok(out)
}

fn unified(before: &str, after: &str, old_label: &str, new_id: &str) -> String {
    TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(old_label, &format!("new {new_id}"))
        .to_string()
}

/// Drops what the server manages and hides Secret values (showing only whether each
/// key changed, through a short fingerprint).
fn normalize(mut v: Value) -> Value {
    if let Some(meta) = v["metadata"].as_object_mut() {
        for k in [
            "managedFields",
            "resourceVersion",
            "uid",
            "generation",
            "creationTimestamp",
            "selfLink",
        ] {
            meta.remove(k);
        }
    }
    if let Some(obj) = v.as_object_mut() {
        obj.remove("status");
    }
    if v["kind"] == "Secret" {
        for field in ["data", "stringData"] {
            if let Some(data) = v[field].as_object_mut() {
                for (_, value) in data.iter_mut() {
                    *value =
                        Value::String(format!("<redacted, fingerprint {}>", fingerprint(value)));
                }
            }
        }
    }
    v
}

/// A short, non-reversible marker that changes when the secret value changes.
fn fingerprint(v: &Value) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.to_string().hash(&mut h);
    format!("{:08x}", h.finish() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_but_changes_show() {
        let a = normalize(
            serde_json::json!({"kind": "Secret", "metadata": {"uid": "x"}, "data": {"p": "c2VjcmV0"}}),
        );
        let b = normalize(
            serde_json::json!({"kind": "Secret", "metadata": {}, "data": {"p": "b3RoZXI="}}),
        );
        let text = to_yaml(&a).unwrap();
        assert!(
            !text.contains("c2VjcmV0") && text.contains("<redacted"),
            "{text}"
        );
        assert!(a["metadata"].get("uid").is_none());
        assert_ne!(a["data"]["p"], b["data"]["p"]);
    }
}
