//! `docs/images.md`: the contracts as people read them, every fact with its link.

use super::{BasePath, Fact, ImageContract, RealRun, Source, all};

fn cite(s: &Source) -> String {
    match s {
        Source::Upstream { repo, rev, path } => {
            format!("[{repo}@{rev:.12}:{path}](https://github.com/{repo}/blob/{rev}/{path})")
        }
        Source::Stackctl { how } => format!("set by stackctl: {how}"),
        Source::Unverified { why } => format!("**unverified**: {why}"),
    }
}

fn line<T>(out: &mut String, label: &str, f: &Fact<T>, value: &str) {
    let note = if f.note.is_empty() {
        String::new()
    } else {
        format!(" ({})", f.note)
    };
    out.push_str(&format!("- {label}: {value}{note} — {}\n", cite(&f.source)));
}

/// `none_is`: what a missing value means ("unknown" for a uid, "none" for a data
/// directory the image does not have).
fn opt<T: ToString>(v: Option<T>, none_is: &str) -> String {
    v.map_or_else(|| none_is.to_string(), |v| format!("`{}`", v.to_string()))
}

fn contract(out: &mut String, c: &ImageContract) {
    out.push_str(&format!("\n## `{}:{}`\n\n", c.image, c.tag));
    if let super::Match::Component(name) = c.matched_by {
        out.push_str(&format!(
            "User-supplied image; workloads of component `{name}` are held to it.\n\n"
        ));
    }
    for f in c.about {
        line(out, "about", f, f.value);
    }
    line(out, "uid", &c.uid, &opt(c.uid.value, "unknown"));
    line(out, "gid", &c.gid, &opt(c.gid.value, "unknown"));
    line(
        out,
        "data directory",
        &c.data_dir,
        &opt(c.data_dir.value, "none"),
    );
    for f in c.writable_paths {
        line(out, "writable", f, &format!("`{}`", f.value));
    }
    for f in c.config_files {
        line(
            out,
            "config file",
            f,
            &format!("`{}` ({})", f.value.path, f.value.format),
        );
    }
    line(
        out,
        "entrypoint",
        &c.entrypoint,
        &format!("`{}`", c.entrypoint.value),
    );
    line(
        out,
        "command",
        &c.command,
        &format!("`{}`", c.command.value),
    );
    for f in c.flags {
        line(out, "flag", f, &format!("`{}`", f.value));
    }
    for f in c.ports {
        line(
            out,
            "port",
            f,
            &format!("{} ({})", f.value.number, f.value.what),
        );
    }
    for f in c.health {
        line(
            out,
            "health",
            f,
            &format!(
                "`GET {}` on {} ({})",
                f.value.path, f.value.port, f.value.what
            ),
        );
    }
    if let Some(b) = &c.base_path {
        let how = match b.value {
            BasePath::Flag(flag) => format!("flag `{flag}<prefix>`"),
            BasePath::EnvUrl { url, enabled_by } => {
                format!("path of `{url}` when `{enabled_by}=true`")
            }
            BasePath::ConfigKey {
                file,
                key,
                enabled_by,
            } => format!("`{key}` in `{file}` when `{enabled_by}: true`"),
        };
        line(out, "sub-path", b, &how);
    }
    for f in c.env {
        line(
            out,
            "env",
            f,
            &format!("`{}`: {}", f.value.name, f.value.effect),
        );
    }
    line(
        out,
        "minimum Kubernetes",
        &c.min_kubernetes,
        &opt(c.min_kubernetes.value, "none stated"),
    );
    match c.real_run {
        RealRun::Debian {
            package,
            tests,
            unproven,
        } => out.push_str(&format!(
            "- run for real: Debian's {package} stands in for the image in {tests}; a pass does not prove: {unproven}\n"
        )),
        RealRun::None { why } => out.push_str(&format!("- run for real: no — {why}\n")),
    }
    for e in c.exceptions {
        let kind = if e.known_defect {
            "known defect"
        } else {
            "exception"
        };
        out.push_str(&format!(
            "- {kind} ({:?}, container `{}`): {}\n",
            e.rule, e.container, e.why
        ));
    }
}

/// The whole document.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Image contracts\n\n\
         Generated from `src/stacks/contracts/` by `UPDATE_DOCS=1 cargo test --test contracts`; \
         do not edit by hand.\n\n\
         Every image the stacks and their probes run, with what the image does and where \
         each fact was read: a link to the upstream file at the revision read, \"set by \
         stackctl\" for what stackctl configures, or **unverified** with the reason. \
         `tests/contracts.rs` holds every rendered workload and probe Job of every built-in \
         profile to these: runAsUser, runAsGroup and fsGroup, container ports, probe \
         ports and paths, and writable paths under a read-only root. Exceptions below \
         are departures on purpose; known defects are mistakes not yet fixed.\n",
    );
    let contracts = all();
    out.push_str("\n| image | facts | unverified |\n|---|---|---|\n");
    for c in &contracts {
        let sources = super::sources(c);
        let unverified = sources.iter().filter(|s| !s.is_verified()).count();
        out.push_str(&format!(
            "| `{}:{}` | {} | {} |\n",
            c.image,
            c.tag,
            sources.len(),
            unverified
        ));
    }
    for c in contracts {
        contract(&mut out, c);
    }
    out
}
