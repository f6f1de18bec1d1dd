//! What an upgrade changes, for people: the one-line-per-object summary `upgrade`
//! prints before asking, and the unified diff of `diff` and `upgrade --diff`
//! (computed by the API server with a server-side dry run, secrets redacted). Objects
//! named for their revision are compared with the previous revision's counterpart.

use anyhow::Result;
use serde_json::Value;
use similar::TextDiff;

use super::immutable::{self, ImmutableChange};
use crate::apply::apply_one;
use crate::cluster::Session;
use crate::model::Manifest;
use crate::model::to_yaml;
use crate::plan::Plan;

pub struct Changes {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub text: String,
}

/// Which objects an upgrade adds, changes and removes, from the rendered forms.
pub fn change_summary(previous: &[Manifest], plan: &Plan) -> Changes {
    let next: Vec<&Manifest> = plan.manifests().collect();
    let mut lines = Vec::new();
    let (mut added, mut changed) = (0, 0);
    for m in &next {
        let counterpart = previous.iter().find(|p| m.is_counterpart_of(p));
        match previous.iter().find(|p| immutable::same_object(p, m)) {
            // A new revision's run of a per-revision Job: new only in its name.
            None if counterpart
                .is_some_and(|p| p.revision_neutral_body() == m.revision_neutral_body()) =>
            {
                lines.push(format!("  = {} (runs again, once per revision)", m.id()));
            }
            None if counterpart.is_some() => {
                changed += 1;
                lines.push(format!(
                    "  ~ {} (was {})",
                    m.id(),
                    counterpart.map(Manifest::id).unwrap_or_default()
                ));
            }
            None => {
                added += 1;
                lines.push(format!("  + {}", m.id()));
            }
            Some(p) if p.body != m.body => {
                changed += 1;
                lines.push(format!("  ~ {}", m.id()));
            }
            _ => {}
        }
    }
    let removed_list: Vec<&Manifest> = previous
        .iter()
        .filter(|p| {
            !next
                .iter()
                .any(|m| immutable::same_object(p, m) || m.is_counterpart_of(p))
        })
        .collect();
    for m in &removed_list {
        lines.push(format!(
            "  - {}{}",
            m.id(),
            if m.kind == "PersistentVolumeClaim" {
                " (kept: volumes are never pruned)"
            } else {
                ""
            }
        ));
    }
    let text = format!(
        "changes: {added} to add, {changed} to change, {} to remove{}{}",
        removed_list.len(),
        if lines.is_empty() { "" } else { "\n" },
        lines.join("\n")
    );
    Changes {
        added,
        changed,
        removed: removed_list.len(),
        text,
    }
}

/// A unified diff per changed object, live → would-be. An object named for its
/// revision is compared, as rendered, with its counterpart in `previous` (the
/// release's objects): its own name does not exist yet. An object whose change
/// Kubernetes refuses in place (`immutable`) is compared, as rendered, with its
/// previous rendering too, since the server's dry run would only refuse it; its
/// diff is headed by what `upgrade` says about it.
pub async fn render_diff(
    session: &Session,
    plan: &Plan,
    previous: &[Manifest],
    immutable: &[ImmutableChange],
) -> Result<String> {
    let mut out = String::new();
    for m in plan.manifests() {
        let refused: Vec<&ImmutableChange> =
            immutable.iter().filter(|c| c.object == m.id()).collect();
        if !refused.is_empty() {
            for c in &refused {
                out.push_str(&format!(
                    "# {c}: `upgrade --recreate` deletes and re-creates it (orphaning its \
                     pods and volumes, so data is kept)\n"
                ));
            }
            if let Some(p) = previous.iter().find(|p| immutable::same_object(p, m)) {
                let before_text = to_yaml(&normalize(p.body.clone()))?;
                let after_text = to_yaml(&normalize(m.body.clone()))?;
                let before = format!("previous {}", p.id());
                out.push_str(&unified(&before_text, &after_text, &before, &m.id()));
            }
            continue;
        }
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

/// When an upgrade turns NetworkPolicies on (the previous revision had none): what
/// that means, and each policy as a diff from nothing, shown before the question
/// whether or not `--diff` was given. Where the network plugin enforces them, a
/// client of the user's that the values do not admit loses its connection, and
/// that is not seen in a one-line summary.
pub fn policies_turned_on(previous: &[Manifest], plan: &Plan) -> Result<Option<String>> {
    const KIND: &str = "NetworkPolicy";
    if previous.iter().any(|m| m.kind == KIND) {
        return Ok(None);
    }
    let added: Vec<&Manifest> = plan.manifests().filter(|m| m.kind == KIND).collect();
    if added.is_empty() {
        return Ok(None);
    }
    let mut out = format!(
        "note: this upgrade turns NetworkPolicies on ({} of them). Where the cluster's network plugin \
         enforces them, each pod of the release then admits only the stack's own flows and the \
         clients the networkPolicy values name: any other client of yours loses its connection \
         (networkPolicy.enabled=false keeps them off).\n",
        added.len()
    );
    for m in added {
        let after = to_yaml(&normalize(m.body.clone()))?;
        out.push_str(&unified("", &after, "no policy", &m.id()));
    }
    Ok(Some(out))
}

pub fn unified(before: &str, after: &str, old_label: &str, new_id: &str) -> String {
    TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(old_label, &format!("new {new_id}"))
        .to_string()
}

/// Drops what the server manages and hides Secret values (showing only whether each
/// key changed, through a short fingerprint).
pub fn normalize(mut v: Value) -> Value {
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

    #[test]
    fn a_per_revision_job_is_compared_with_the_previous_revisions() {
        use crate::operations::{Input, prepare_with_rng};
        use crate::values::{SetFlag, SetKind};
        use rand::SeedableRng;
        let plan = |revision: u32, sets: &[&str]| {
            let input = Input {
                profile: Some("minimal".into()),
                sets: sets
                    .iter()
                    .map(|s| SetFlag {
                        kind: SetKind::Set,
                        raw: s.to_string(),
                    })
                    .collect(),
                ..Default::default()
            };
            let mut p =
                prepare_with_rng(&input, &mut rand::rngs::StdRng::seed_from_u64(1)).unwrap();
            p.release.revision = revision;
            p.plan(crate::model::Capabilities::latest()).unwrap()
        };
        let first: Vec<Manifest> = plan(1, &[]).manifests().cloned().collect();

        let same = change_summary(&first, &plan(2, &[]));
        assert_eq!(
            (same.added, same.changed, same.removed),
            (0, 0, 0),
            "{}",
            same.text
        );
        assert!(
            same.text.contains(
                "  = Job/clickvisual-clickvisual-schema-2 (runs again, once per revision)"
            ),
            "{}",
            same.text
        );

        // A new MySQL image changes the Job: shown as a change of the previous one.
        let changed = change_summary(&first, &plan(2, &["mysql.image.tag=8.4.3"]));
        assert!(
            changed.text.contains(
                "  ~ Job/clickvisual-clickvisual-schema-2 (was Job/clickvisual-clickvisual-schema-1)"
            ),
            "{}",
            changed.text
        );
        assert_eq!(changed.removed, 0, "{}", changed.text);

        // An upgrade keeps the last revision's run when only the revision differs.
        let mut kept = plan(2, &[]);
        assert_eq!(kept.keep_completed_runs(&first), 1);
        let summary = change_summary(&first, &kept);
        assert_eq!(summary.text, "changes: 0 to add, 0 to change, 0 to remove");
        assert!(
            kept.manifests()
                .any(|m| m.name == "clickvisual-clickvisual-schema-1")
        );
        // What the Job runs changed: the image, or the script in its ConfigMap.
        for set in [
            "mysql.image.tag=8.4.3",
            "clickvisual.schema.sql=CREATE TABLE IF NOT EXISTS x (id INT);",
        ] {
            let mut next = plan(2, &[set]);
            assert_eq!(next.keep_completed_runs(&first), 0, "{set}");
            assert!(
                next.manifests()
                    .any(|m| m.name == "clickvisual-clickvisual-schema-2"),
                "{set}"
            );
        }

        // Policies are on by default: a revision without them, turned on.
        let off: Vec<Manifest> = plan(1, &["networkPolicy.enabled=false"])
            .manifests()
            .cloned()
            .collect();
        assert!(off.iter().all(|m| m.kind != "NetworkPolicy"));
        let note = policies_turned_on(&off, &plan(2, &[])).unwrap().unwrap();
        assert!(
            note.starts_with("note: this upgrade turns NetworkPolicies on"),
            "{note}"
        );
        let shown = note.matches("+kind: NetworkPolicy").count();
        let planned = plan(2, &[])
            .manifests()
            .filter(|m| m.kind == "NetworkPolicy")
            .count();
        assert!(
            shown > 0 && shown == planned,
            "{shown} of {planned}: {note}"
        );
        // Already on, or still off: nothing to say.
        assert!(policies_turned_on(&first, &plan(2, &[])).unwrap().is_none());
        let still_off = plan(2, &["networkPolicy.enabled=false"]);
        assert!(policies_turned_on(&off, &still_off).unwrap().is_none());
    }
}
