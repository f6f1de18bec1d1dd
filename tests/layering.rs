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
    ("cli", &["values"]),
    ("output", &["cli"]),
    ("logging", &["cli"]),
    // Records and the lock: stored JSON and the release-name rule, warnings
    // about unreadable records; no stack.
    ("release", &["model", "output"]),
    // Values → objects. Stacks render through the model only.
    ("stacks", &["model", "values"]),
    ("plan", &["model"]),
    ("cluster", &["model"]),
    ("apply", &["model", "cluster"]),
    ("wait", &["model", "cluster"]),
    // Which declared flows live NetworkPolicies deny: pure, over JSON.
    ("netpol", &["model"]),
    (
        "probe",
        &["model", "cluster", "apply", "stacks", "release", "output"],
    ),
    // Install, upgrade, rollback, uninstall, built from everything below.
    (
        "operations",
        &[
            "model", "values", "profiles", "stacks", "plan", "cluster", "apply", "wait", "netpol",
            "probe", "release", "output",
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

/// Edges only test code may have: the stacks' tests render every built-in profile;
/// the policy evaluator's tests feed it the AIOps stack's own rendered policies.
const TEST_ONLY: &[(&str, &[&str])] = &[("stacks", &["profiles"]), ("netpol", &["stacks"])];

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

/// The code of a line: what precedes a `//` comment outside string literals.
fn code_of(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
        i += 1;
    }
    line
}

fn ident(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Every `crate::<module>` a file names in code (comments skipped), grouped imports
/// (`crate::{a::X, b::Y}`) included, with the line it is on.
fn crate_edges(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = code_of(line);
        while let Some(i) = rest.find("crate::") {
            let before = &rest[..i];
            let after = &rest[i + "crate::".len()..];
            rest = after;
            // `$crate::` in macros and `other_crate::` are not this crate's paths.
            if before.ends_with('$') || before.ends_with('_') {
                continue;
            }
            if let Some(group) = after.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or_default();
                for item in inner.split(',') {
                    let name = ident(item);
                    if !name.is_empty() {
                        out.push((n + 1, name));
                    }
                }
            } else {
                let name = ident(after);
                if !name.is_empty() {
                    out.push((n + 1, name));
                }
            }
        }
    }
    out
}

/// Whether a file is compiled only for tests: `tests.rs` or under a `tests/`
/// folder, or declared `#[cfg(test)] mod <name>;` by its parent.
fn test_only_file(src: &Path, file: &Path) -> bool {
    let name = file.file_stem().unwrap().to_string_lossy().to_string();
    let rel = file.strip_prefix(src).unwrap_or(file);
    if name == "tests" || rel.components().any(|c| c.as_os_str() == "tests") {
        return true;
    }
    let dir = file.parent().unwrap();
    let parents = [
        dir.join("mod.rs"),
        dir.with_extension("rs"),
        dir.join("lib.rs"),
    ];
    parents.iter().any(|p| {
        std::fs::read_to_string(p).is_ok_and(|text| {
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            lines.windows(2).any(|w| {
                w[0] == "#[cfg(test)]"
                    && (w[1] == format!("mod {name};") || w[1] == format!("pub mod {name};"))
            })
        })
    })
}

/// The line from which a file's code is for tests only: a `#[cfg(test)]` at the
/// start of a line, as the trailing `mod tests` is written.
fn tests_start(text: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with("#[cfg(test)]"))
        .map_or(usize::MAX, |i| i + 1)
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
        // Binaries use the library by its name (`stackctl::`), as main.rs does.
        if module == "main" || module == "lib" || module == "bin" {
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
        let tests_from = if test_only_file(&src, file) {
            0
        } else {
            tests_start(&text)
        };
        for (line, target) in crate_edges(&text) {
            let allowed = target == module
                || deps.contains(target.as_str())
                || (line >= tests_from
                    && TEST_ONLY
                        .iter()
                        .any(|(m, d)| *m == module && d.contains(&target.as_str())));
            if !allowed {
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
fn every_form_of_edge_is_found() {
    let text = "use crate::wait::State; // crate::probe in a comment\n\
                let x = $crate::y;\n\
                use crate::{plan::Plan, apply::apply_all};\n\
                let url = \"http://x\"; crate::cluster::connect();";
    let edges: Vec<String> = crate_edges(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(edges, ["wait", "plan", "apply", "cluster"]);
}

#[test]
fn test_code_is_told_apart() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    assert!(test_only_file(&src, &src.join("stacks/invariants.rs")));
    assert!(test_only_file(&src, &src.join("wait/status/tests.rs")));
    assert!(!test_only_file(&src, &src.join("stacks/kit/redis.rs")));
    assert_eq!(tests_start("fn a() {}\n#[cfg(test)]\nmod tests {}"), 2);
}
