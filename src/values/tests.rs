//! End-to-end tests of [`resolve`] over the test values type.

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

use super::testing::{DEFAULTS, Mode, TestValues};
use super::*;

const PROFILE: &str = "\
stack: test
description: external database
mysql:
  enabled: false
  external:
    host: db.example.com
";

fn run(layers: &[Layer], sets: &[SetFlag]) -> Result<Resolved<TestValues>, Problems> {
    resolve_with(layers, sets, &mut StdRng::seed_from_u64(42), &|p: &str| {
        Err(format!("no {p} in tests"))
    })
}

fn problems(layers: &[Layer], sets: &[SetFlag]) -> Vec<String> {
    match run(layers, sets) {
        Ok(_) => Vec::new(),
        Err(p) => p.iter().map(ToString::to_string).collect(),
    }
}

fn origin_of(r: &Resolved<TestValues>, path: &str) -> String {
    r.origin(path).map(ToString::to_string).unwrap_or_default()
}

#[test]
fn defaults_alone_resolve() {
    let r = run(&[Layer::defaults(DEFAULTS)], &[]).unwrap();
    assert_eq!(r.typed.app.replicas, 1);
    assert_eq!(r.typed.app.mode, Mode::Fast);
    assert_eq!(r.typed.app.strategy, None);
    assert_eq!(r.typed.app.resources.memory.as_str(), "1Gi");
    assert_eq!(origin_of(&r, "app.image.tag"), "stack defaults:5");
    assert_eq!(origin_of(&r, "mysql.external.port"), "stack defaults:28");
    // Every field made it into the typed values.
    let app = &r.typed.app;
    assert!(app.env.is_empty() && app.hosts.is_empty() && app.secret_env.is_empty());
    assert_eq!(app.extra, json!({}));
    assert_eq!(app.resources.cpu.as_str(), "500m");
    assert_eq!(app.users[0].name, "admin");
    assert_eq!(app.users[0].token.len(), secrets::GENERATED_LEN);
    assert_eq!(r.typed.mysql.auth.pin, None);
    assert_eq!(r.typed.mysql.external.port, 3306);
    let r = run(
        &[Layer::defaults(DEFAULTS)],
        &[SetFlag::set("app.env[0].name=A,app.env[0].value=0123")],
    )
    .unwrap();
    assert_eq!(
        (
            r.typed.app.env[0].name.as_str(),
            r.typed.app.env[0].value.as_str()
        ),
        ("A", "0123")
    );
}

#[test]
fn layers_merge_in_order() {
    let f1 = "app:\n  replicas: 2\n  image:\n    tag: v1.1.0\n  hosts: [a, b]\n";
    let f2 = "app:\n  replicas: 3\n  hosts: [c]\n";
    let r = run(
        &[
            Layer::defaults(DEFAULTS),
            Layer::profile("external", "profiles/external.yaml", PROFILE),
            Layer::file("one.yaml", f1),
            Layer::file("two.yaml", f2),
        ],
        &[
            SetFlag::set("app.replicas=4,app.labels.a=1"),
            SetFlag::string("app.labels.a=2"),
            SetFlag::json(r#"app.hosts=["x"]"#),
            SetFlag::set("app.replicas=5"),
        ],
    )
    .unwrap();
    // Profile over defaults, metadata dropped.
    assert!(!r.typed.mysql.enabled);
    assert_eq!(r.typed.mysql.external.host, "db.example.com");
    assert_eq!(r.tree.get("stack"), None);
    assert_eq!(r.tree.get("description"), None);
    assert_eq!(
        origin_of(&r, "mysql.enabled"),
        "profile external: profiles/external.yaml:4"
    );
    // -f files in order; maps merge, lists replace.
    assert_eq!(r.typed.app.image.tag, "v1.1.0");
    assert_eq!(r.typed.app.image.repository, "example/app");
    assert_eq!(origin_of(&r, "app.image.tag"), "-f one.yaml:4");
    assert_eq!(origin_of(&r, "app.image.repository"), "stack defaults:4");
    // Sets over files, later sets over earlier ones, whatever their kind.
    assert_eq!(r.typed.app.replicas, 5);
    assert_eq!(origin_of(&r, "app.replicas"), "--set app.replicas=5");
    assert_eq!(r.typed.app.labels["a"], "2");
    assert_eq!(origin_of(&r, "app.labels.a"), "--set-string app.labels.a=2");
    assert_eq!(r.typed.app.hosts, vec!["x"]);
    assert_eq!(
        origin_of(&r, "app.hosts[0]"),
        r#"--set-json app.hosts=["x"]"#
    );
}

#[test]
fn null_deletes_keys_from_any_layer() {
    let r = run(
        &[
            Layer::defaults(DEFAULTS),
            Layer::file("f.yaml", "app:\n  metricsPort: 9090\n"),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(r.typed.app.metrics_port, Some(9090));
    let r = run(
        &[
            Layer::defaults(DEFAULTS),
            Layer::file("f.yaml", "app:\n  metricsPort: 9090\n"),
        ],
        &[SetFlag::set("app.metricsPort=null")],
    )
    .unwrap();
    assert_eq!(r.typed.app.metrics_port, None);
    assert_eq!(
        problems(
            &[Layer::defaults(DEFAULTS)],
            &[SetFlag::set("mysql.port=null")]
        ),
        vec!["mysql.port: is required and cannot be removed (from --set mysql.port=null)"]
    );
}

#[test]
fn every_kind_of_problem_is_reported_together_with_origins() {
    let file = "\
app:
  replicas: 2
  image:
    tag: v1
mysql:
  auth:
    rootPasword: x
  rootPassword: y
  port: 99999
";
    let got = problems(
        &[Layer::defaults(DEFAULTS), Layer::file("my.yaml", file)],
        &[
            SetFlag::set("app.replicas=abc"),
            SetFlag::set("app.mode=fsat"),
            SetFlag::set("app.resources.memory=8GB"),
            SetFlag::set("app.image.repository=Bad Repo"),
            SetFlag::set("app.replicsa=2"),
            SetFlag::set("broken"),
        ],
    );
    assert_eq!(
        got,
        vec![
            "app.replicas: expected an integer, got \"abc\" (from --set app.replicas=abc)",
            "key \"broken\" has no value (expected broken=value) (from --set broken)",
            "app.image.repository: \"Bad Repo\" is not a valid image repository (lowercase path like registry.example.com/team/app) (from --set app.image.repository=Bad Repo)",
            "app.mode: expected one of `fast`, `safe`, got \"fsat\" (from --set app.mode=fsat); did you mean `fast`?",
            "app.resources.memory: \"8GB\" is not a Kubernetes quantity (examples: 8Gi, 500m, 1.5, 2e3) (from --set app.resources.memory=8GB)",
            "app.replicsa: unknown key (from --set app.replicsa=2); did you mean `app.replicas`?",
            "mysql.port: must be at most 65535, got 99999 (from -f my.yaml:9)",
            "mysql.auth.rootPasword: unknown key (from -f my.yaml:7); did you mean `mysql.auth.rootPassword`?",
            "mysql.rootPassword: unknown key (from -f my.yaml:8); did you mean `mysql.auth.rootPassword`?",
        ]
    );
}

#[test]
fn semantic_checks_run_once_the_structure_is_sound() {
    let profile = "stack: test\ndescription: x\nmysql:\n  enabled: false\n";
    let got = problems(
        &[
            Layer::defaults(DEFAULTS),
            Layer::profile(
                "external-services",
                "profiles/external-services.yaml",
                profile,
            ),
        ],
        &[SetFlag::set("app.replicas=0")],
    );
    assert_eq!(
        got,
        vec![
            "app.replicas: must be at least 1, got 0 (from --set app.replicas=0)",
            "mysql.external.host: required when mysql.enabled=false (from profile external-services: profiles/external-services.yaml:4)",
        ]
    );
}

#[test]
fn yaml_problems_name_the_layer_and_line() {
    let got = problems(
        &[
            Layer::defaults(DEFAULTS),
            Layer::file("bad.yaml", "app:\n  replicas: [1,\n"),
            Layer::file("list.yaml", "- a\n- b\n"),
            Layer::file("empty.yaml", "# nothing\n"),
        ],
        &[],
    );
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with("invalid YAML: "), "{got:?}");
    assert!(got[0].contains("(from -f bad.yaml:"), "{got:?}");
    assert_eq!(
        got[1],
        "expected a map of values at the top level, got a list (from -f list.yaml)"
    );
}

#[test]
fn string_fields_keep_text_from_set() {
    let r = run(
        &[Layer::defaults(DEFAULTS)],
        &[SetFlag::set(
            "mysql.auth.rootPassword=0123,mysql.auth.username=true,app.image.tag=1.5,app.ratio=1.5,mysql.enabled=false,mysql.external.host=10.0.0.5",
        )],
    )
    .unwrap();
    assert_eq!(r.typed.mysql.auth.root_password, "0123");
    assert_eq!(r.typed.mysql.auth.username, "true");
    assert_eq!(r.typed.app.image.tag, "1.5");
    assert!((r.typed.app.ratio - 1.5).abs() < f64::EPSILON);
    assert!(!r.typed.mysql.enabled);
}

#[test]
fn set_file_reads_real_files_and_reports_unreadable_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pw.txt");
    std::fs::write(&path, "from-file").unwrap();
    let flag = format!("mysql.auth.rootPassword={}", path.display());
    let r: Resolved<TestValues> = resolve(
        &[Layer::defaults(DEFAULTS)],
        &[SetFlag::file(flag.as_str())],
        &mut StdRng::seed_from_u64(1),
    )
    .unwrap();
    assert_eq!(r.typed.mysql.auth.root_password, "from-file");
    assert_eq!(
        origin_of(&r, "mysql.auth.rootPassword"),
        format!("--set-file {flag}")
    );

    let missing = dir.path().join("missing.txt");
    let err = resolve::<TestValues, _>(
        &[Layer::defaults(DEFAULTS)],
        &[SetFlag::file(format!(
            "mysql.auth.rootPassword={}",
            missing.display()
        ))],
        &mut StdRng::seed_from_u64(1),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&format!("cannot read file \"{}\"", missing.display()))
            && err.contains(&format!(
                "(from --set-file mysql.auth.rootPassword={})",
                missing.display()
            )),
        "{err}"
    );
}

#[test]
fn secrets_are_generated_once_deterministically_and_never_over_user_values() {
    let layers = [Layer::defaults(DEFAULTS)];
    let sets = [SetFlag::set("mysql.auth.rootPassword=mine")];
    let a = run(&layers, &sets).unwrap();
    let b = run(&layers, &sets).unwrap();
    assert_eq!(a.tree, b.tree, "same seed, same values");
    let generated: Vec<String> = a.generated.iter().map(ToString::to_string).collect();
    assert_eq!(generated, vec!["app.users[0].token", "mysql.auth.password"]);
    assert_eq!(a.typed.mysql.auth.root_password, "mine");
    let pw = &a.typed.mysql.auth.password;
    assert!(
        pw.len() >= 24 && pw.chars().all(|c| c.is_ascii_alphanumeric()),
        "{pw}"
    );
    assert_eq!(
        origin_of(&a, "mysql.auth.password"),
        "generated by stackctl"
    );
    // Not generated: secret but not marked for generation.
    assert_eq!(a.typed.mysql.external.password, "");
    // An upgrade feeds the previous values back: nothing is generated again.
    let again = resolve::<TestValues, _>(
        &[
            Layer::defaults(DEFAULTS),
            Layer::tree("values of revision 1", a.tree.clone()),
        ],
        &[],
        &mut StdRng::seed_from_u64(999),
    )
    .unwrap();
    assert!(again.generated.is_empty());
    assert_eq!(again.typed.mysql.auth.password, *pw);
    assert_eq!(
        origin_of(&again, "mysql.auth.password"),
        "values of revision 1"
    );
}

#[test]
fn redacted_values_hide_secrets_only() {
    let r = run(
        &[Layer::defaults(DEFAULTS)],
        &[SetFlag::set(
            "mysql.external.password=ext,mysql.auth.pin=1234",
        )],
    )
    .unwrap();
    let red = r.redacted();
    assert_eq!(red["mysql"]["auth"]["rootPassword"], json!(REDACTED));
    assert_eq!(red["mysql"]["auth"]["password"], json!(REDACTED));
    assert_eq!(red["mysql"]["auth"]["pin"], json!(REDACTED));
    assert_eq!(red["mysql"]["external"]["password"], json!(REDACTED));
    assert_eq!(red["app"]["users"][0]["token"], json!(REDACTED));
    assert_eq!(red["mysql"]["auth"]["username"], json!("app"));
    assert_eq!(red["app"]["replicas"], json!(1));
    assert_eq!(
        r.tree["mysql"]["external"]["password"],
        json!("ext"),
        "the tree itself keeps them"
    );
}

#[test]
fn profile_meta_is_read_and_stripped() {
    assert_eq!(
        profile_meta(PROFILE).unwrap(),
        ProfileMeta {
            stack: Some("test".into()),
            description: Some("external database".into()),
            requires: vec![],
        }
    );
    // In a non-profile layer, `stack` is just an unknown key.
    assert_eq!(
        problems(
            &[
                Layer::defaults(DEFAULTS),
                Layer::file("x.yaml", "stack: test\n")
            ],
            &[]
        ),
        vec!["stack: unknown key (from -f x.yaml:1)"]
    );
}

#[test]
fn hostile_input_is_rejected_without_panicking() {
    let deep_yaml = format!("app:\n  extra: {}1{}\n", "[".repeat(5000), "]".repeat(5000));
    let huge_index = SetFlag::set("app.hosts[65536]=x");
    let got = problems(
        &[
            Layer::defaults(DEFAULTS),
            Layer::file("deep.yaml", deep_yaml),
        ],
        &[huge_index],
    );
    assert!(got[0].starts_with("invalid YAML"), "{got:?}");
    assert_eq!(
        got[1],
        "app.hosts[0]: expected a string, got null (from --set app.hosts[65536]=x)"
    );
    assert_eq!(got.len(), 1 + 65536);
    for raw in [
        "a.b.c",
        "app.env[0].value.x=1",
        "app=1",
        "app.replicas={1,2}",
        "mysql={}",
    ] {
        let _ = problems(&[Layer::defaults(DEFAULTS)], &[SetFlag::set(raw)]);
        let _ = problems(&[Layer::defaults(DEFAULTS)], &[SetFlag::json(raw)]);
    }
    assert_eq!(
        problems(&[Layer::defaults(DEFAULTS)], &[SetFlag::set("app=1")]),
        vec!["app: expected a map, got \"1\" (from --set app=1)"]
    );
}

fn unmet(profile: &str, sets: &[SetFlag]) -> Problems {
    run(
        &[
            Layer::defaults(DEFAULTS),
            Layer::profile("p", "p.yaml", profile),
        ],
        sets,
    )
    .expect_err("a requirement is unmet")
}

#[test]
fn an_unmet_requirement_carries_what_a_prompt_needs() {
    let external = "\
stack: test
requires:
  - key: mysql.external.password
    example: pw
mysql:
  enabled: false
  external:
    host: db.example.com
";
    let problems = unmet(external, &[]);
    let missing = problems.only_missing().expect("only the requirement");
    assert_eq!(
        missing,
        vec![&Missing {
            key: "mysql.external.password".into(),
            about: vec!["Password of the external database.".into()],
            secret: true,
            text: true,
            example: Some(json!("pw")),
            // The bundled MySQL is already off: there is nothing to switch.
            switch: None,
        }]
    );

    let bundled = "\
stack: test
requires:
  - key: mysql.auth.username
mysql:
  auth:
    username: \"\"
";
    let problems = unmet(bundled, &[]);
    let missing = problems.only_missing().expect("only the requirement");
    // The bundled MySQL is on: switching it off is the other answer.
    assert_eq!(missing[0].switch.as_deref(), Some("mysql.enabled"));
    assert!(missing[0].text && !missing[0].secret);
}

#[test]
fn an_unmet_requirement_does_not_hide_other_problems_nor_doubles_its_own() {
    let profile = "\
stack: test
requires:
  - key: mysql.external.password
  - key: app.image.tag
app:
  image:
    tag: \"\"
mysql:
  enabled: false
";
    let problems = unmet(profile, &[]);
    let got: Vec<String> = problems.iter().map(ToString::to_string).collect();
    // The empty tag is reported as missing, not also as a bad tag; the host the
    // stack's rules want is reported with it, so asking alone would not do.
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(got[0].starts_with("mysql.external.password: required by the profile"));
    assert!(got[1].starts_with("app.image.tag: required by the profile"));
    assert!(got[2].starts_with("mysql.external.host: required when mysql.enabled=false"));
    assert!(problems.only_missing().is_none());
}

#[test]
fn inputs_are_bounded_one_by_one_and_in_total() {
    let long = format!("mysql.external.host={}", "h".repeat(64 * 1024));
    let found = problems(&[Layer::defaults(DEFAULTS)], &[SetFlag::string(long)]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("--set-string mysql.external.host=… is larger than 64 KiB"),
        "{found:?}"
    );

    // Three set-files of 300 KiB each: the third goes over the total and is not
    // spent; nothing is read once the total is gone.
    let reads = std::cell::Cell::new(0);
    let reader = |_: &str| {
        reads.set(reads.get() + 1);
        Ok("x".repeat(300 * 1024))
    };
    let sets: Vec<SetFlag> = (0..4)
        .map(|i| SetFlag::file(format!("blob{i}=f{i}")))
        .collect();
    let err = resolve_with::<TestValues, _>(
        &[Layer::defaults(DEFAULTS)],
        &sets,
        &mut StdRng::seed_from_u64(42),
        &reader,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(reads.get(), 3, "{err}");
    assert!(
        err.contains("blob2: file \"f2\" brings what was given (profile, -f files, --set flags and --set-file contents) to more than 768 KiB in all")
            && err.contains("blob3: file \"f3\" not read: what was given is already more than 768 KiB in all"),
        "{err}"
    );

    // A previous release's values are not counted: they were bounded when given.
    let big = json!({ "blob": "x".repeat(800 * 1024) });
    let found = problems(
        &[
            Layer::defaults(DEFAULTS),
            Layer::tree("values of revision 1", big),
        ],
        &[],
    );
    assert!(!found.iter().any(|p| p.contains("in all")), "{found:?}");
}
