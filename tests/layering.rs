//! The module graph is a pipeline, held by this test: every `crate::` path in a
//! top-level module must name a module its row below allows. A new edge is a design
//! decision: add it here (and to the README's layout section) or move the code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the modules it may use. Bottom first.
const ALLOWED: &[(&str, &[&str])] = &[
    // The vocabulary everything shares: objects, phases, releases, probe specs.
    ("model", &[]),
    // Typed values by schema; knows no stack.
    ("values", &[]),
    // Profiles declare their required inputs in the values engine's terms.
    ("profiles", &["values"]),
    // Records and the lock: stored JSON, no stack, no engine types.
    ("release", &["model"]),
    ("cli", &["values"]),
    ("output", &["cli"]),
    ("logging", &["cli"]),
    // Values → objects. Stacks render through the model only.
    ("stacks", &["model", "values", "profiles"]),
    ("plan", &["model"]),
    ("cluster", &["model"]),
    ("apply", &["model", "cluster"]),
    ("wait", &["model", "cluster"]),
    (
        "probe",
        &["model", "cluster", "apply", "stacks", "release", "output"],
    ),
    // Install, upgrade, rollback, uninstall, built from everything below.
    (
        "operations",
        &[
            "model", "values", "profiles", "stacks", "plan", "cluster", "apply", "wait", "probe",
            "release", "output",
        ],
    ),
    // The edge: flags in, output and exit codes out.
    (
        "commands",
        &[
            "model",
            "values",
            "profiles",
            "release",
            "cli",
            "output",
            "stacks",
            "plan",
            "cluster",
            "apply",
            "wait",
            "probe",
            "operations",
        ],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `src/wait/pods.rs` → `wait`.
fn owner(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Every `crate::<module>` a file names in code (comments and strings of docs
/// skipped), with the line it is on.
fn crate_edges(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `$crate::` in macros and `stackctl_crate::` are not this crate's paths.
            let before = &rest[..i];
            if !name.is_empty() && !before.ends_with('$') && !before.ends_with('_') {
                out.push((n + 1, name));
            }
            rest = after;
        }
    }
    out
}

#[test]
fn every_crate_edge_is_allowed() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let module = owner(&src, file);
        if module == "main" || module == "lib" {
            continue;
        }
        let Some(deps) = allowed.get(module.as_str()) else {
            violations.push(format!(
                "{}: module {module} is not in the layering table",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (line, target) in crate_edges(&text) {
            if target != module && !deps.contains(target.as_str()) {
                violations.push(format!(
                    "{}:{line}: {module} uses crate::{target}, which its row does not allow",
                    file.strip_prefix(&src).unwrap().display()
                ));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn lib_declares_exactly_the_layered_modules() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    assert!(
        crate_edges(&lib).is_empty(),
        "lib.rs only declares modules; it uses none"
    );
    let declared: BTreeSet<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    let table: BTreeSet<&str> = ALLOWED.iter().map(|(m, _)| *m).collect();
    assert_eq!(declared, table);
}

#[test]
fn the_table_is_a_pipeline_without_cycles() {
    // Each row may only name rows above it: the table read top to bottom is a
    // topological order, so no cycle can exist.
    let mut seen = BTreeSet::new();
    for (module, deps) in ALLOWED {
        for d in *deps {
            assert!(
                seen.contains(d),
                "{module} may use {d}, which is not below it"
            );
        }
        seen.insert(*module);
    }
}

#[test]
fn an_unlisted_edge_is_found() {
    let edges =
        crate_edges("use crate::wait::State; // crate::probe in a comment\nlet x = $crate::y;");
    assert_eq!(edges, vec![(1, "wait".to_string())]);
}
