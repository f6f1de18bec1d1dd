//! Init-only credentials on the real control plane, through the binary: an upgrade
//! changing MySQL's app password runs the rotation Job before the credentials
//! Secret changes, with a temporary Secret that is gone afterwards; a change no Job
//! can make is refused (exit 2) with nothing written, until `--rotated` says it was
//! made by hand. The simulated node runs no container (its pods "succeed"), so this
//! proves the order of the objects; `tests/rotation_scripts.rs` proves the SQL.

mod common;

use std::sync::{Arc, Mutex};

use common::cli::{Env, stderr};

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

/// What happened to Jobs and Secrets in the namespace, in the order the API server
/// reported it: `job <name> complete=<bool>`, `secret <name> <mysql-password>`,
/// `deleted secret <name>`.
type Log = Arc<Mutex<Vec<String>>>;

/// Watches objects of one kind into `log`: `on_apply` describes an added or changed
/// one, `on_delete` a deleted one (`None`: not logged). Says on `ready` once the
/// watch is established.
fn watch_into<K>(
    api: Api<K>,
    log: Log,
    ready: tokio::sync::mpsc::Sender<()>,
    on_apply: fn(&K) -> String,
    on_delete: Option<fn(&K) -> String>,
) -> tokio::task::JoinHandle<()>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    tokio::spawn(async move {
        let mut s = std::pin::pin!(watcher(api, watcher::Config::default()));
        while let Some(e) = s.next().await {
            let line = match e {
                Ok(watcher::Event::InitDone) => {
                    let _ = ready.send(()).await;
                    None
                }
                Ok(watcher::Event::Apply(o)) => Some(on_apply(&o)),
                Ok(watcher::Event::Delete(o)) => on_delete.map(|f| f(&o)),
                _ => None,
            };
            if let Some(line) = line {
                log.lock().unwrap().push(line);
            }
        }
    })
}

/// Watches Jobs and Secrets of `ns` into a log; returns once both watches are
/// established, with the tasks to abort afterwards.
async fn record(env: &Env) -> (Log, Vec<tokio::task::JoinHandle<()>>) {
    let log: Log = Arc::default();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(2);
    let job_task = watch_into(
        Api::<Job>::namespaced(env.client.clone(), &env.ns),
        log.clone(),
        ready_tx.clone(),
        |j| {
            let complete = j
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c.type_ == "Complete" && c.status == "True")
                });
            format!("job {} complete={complete}", j.name_any())
        },
        None,
    );
    let secret_task = watch_into(
        Api::<Secret>::namespaced(env.client.clone(), &env.ns),
        log.clone(),
        ready_tx,
        |s| {
            let value = s
                .data
                .as_ref()
                .and_then(|d| d.get("mysql-password"))
                .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                .unwrap_or_default();
            format!("secret {} {value}", s.name_any())
        },
        Some(|s| format!("deleted secret {}", s.name_any())),
    );
    for _ in 0..2 {
        ready_rx.recv().await.expect("both watches start");
    }
    log.lock().unwrap().clear();
    (log, vec![job_task, secret_task])
}

fn position(log: &[String], what: &str) -> usize {
    log.iter()
        .position(|l| l == what)
        .unwrap_or_else(|| panic!("{what:?} never happened:\n{}", log.join("\n")))
}

#[tokio::test]
async fn mysql_password_is_rotated_before_its_secret_changes_and_account_changes_are_refused() {
    let env = Env::new("creds").await;
    env.ok(&[
        "install",
        "cv",
        "--profile",
        "minimal",
        "--set",
        "mysql.auth.password=OldApp1",
    ])
    .await;
    assert_eq!(
        env.secret_value("cv-mysql-credentials", "mysql-password")
            .await,
        "OldApp1"
    );

    let (log, tasks) = record(&env).await;
    let new = "new p@ss 'with' \"quotes\" $x \\";
    // `--set` escapes with a backslash.
    let set = format!("mysql.auth.password={}", new.replace('\\', "\\\\"));
    let out = env.ok(&["upgrade", "cv", "--set-string", &set]).await;
    for t in tasks {
        t.abort();
    }
    let log = log.lock().unwrap().clone();
    eprintln!("--- events\n{}", log.join("\n"));
    assert!(
        stderr(&out).contains("credentials: changing mysql.auth.password"),
        "{}",
        stderr(&out)
    );
    // The temporary Secret first, then the Job, complete, then it and the Secret go,
    // and only then are the revision recorded and the release's Secret changed.
    let temporary = position(&log, "secret cv-credential-rotation ");
    let done = position(&log, "job cv-test-rotate-mysql complete=true");
    let cleaned = position(&log, "deleted secret cv-credential-rotation");
    let changed = position(&log, &format!("secret cv-mysql-credentials {new}"));
    let recorded = position(&log, "secret stackctl.release.v1.cv.v2 ");
    assert!(
        temporary < done && done < cleaned && cleaned < recorded && recorded < changed,
        "{log:#?}"
    );
    assert!(
        Api::<Secret>::namespaced(env.client.clone(), &env.ns)
            .get_opt("cv-credential-rotation")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        env.secret_value("cv-mysql-credentials", "mysql-password")
            .await,
        new
    );
    assert_eq!(env.history("cv").await.len(), 2);

    // A new account name: the image creates it at first start only, and no Job
    // does; refused before anything is written.
    let out = env
        .run(&["upgrade", "cv", "--set", "mysql.auth.username=someone"])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("mysql.auth.username (mysql): the MySQL image creates the app's account only when it initialises an empty data directory")
            && err.contains("--rotated mysql.auth.username")
            && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(env.history("cv").await.len(), 2, "no new revision");
    // A misspelt --rotated is refused too.
    let out = env
        .run(&["upgrade", "cv", "--rotated", "mysql.auth.usernme"])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(env.history("cv").await.len(), 2, "no new revision");
    // Made by hand, said so: the upgrade goes through without a Job.
    let out = env
        .ok(&[
            "upgrade",
            "cv",
            "--set",
            "mysql.auth.username=someone",
            "--rotated",
            "mysql.auth.username",
        ])
        .await;
    assert!(
        !stderr(&out).contains("credentials: changing"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.history("cv").await.len(), 3);

    // Back to revision 1: its Secret holds the first password and account, the
    // services hold revision 3's. The account only a person can change back:
    // refused, naming it, with nothing written.
    let out = env.run(&["rollback", "cv", "1"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the rollback changes credentials")
            && err.contains("mysql.auth.username (mysql)")
            && !err.contains("mysql.auth.password ("),
        "{err}"
    );
    assert_eq!(env.history("cv").await.len(), 3, "no new revision");

    // Said to be changed back by hand: the password goes back by a Job, before
    // its Secret does.
    let (log, tasks) = record(&env).await;
    let out = env
        .ok(&["rollback", "cv", "1", "--rotated", "mysql.auth.username"])
        .await;
    for t in tasks {
        t.abort();
    }
    let log = log.lock().unwrap().clone();
    assert!(
        stderr(&out).contains("credentials: changing mysql.auth.password"),
        "{}",
        stderr(&out)
    );
    let done = position(&log, "job cv-test-rotate-mysql complete=true");
    let restored = position(&log, "secret cv-mysql-credentials OldApp1");
    assert!(done < restored, "{log:#?}");
    assert_eq!(env.history("cv").await.len(), 4);
    env.done().await;
}

#[tokio::test]
async fn atomic_recovery_moves_a_rotated_password_back_before_its_secret() {
    let env = Env::new("credatomic").await;
    env.ok(&[
        "install",
        "cv",
        "--profile",
        "minimal",
        "--set",
        "mysql.auth.password=OldApp1",
    ])
    .await;
    // The upgrade's own connectivity probe fails, after its rotation ran.
    env.faults(&[(
        "probe",
        "{pods: 'cv-test-mysql-*', fault: exit-code, exitCode: 1}",
    )])
    .await;
    let (log, tasks) = record(&env).await;
    let out = env
        .run(&[
            "upgrade",
            "cv",
            "--atomic",
            "--set",
            "mysql.auth.password=NewApp2",
        ])
        .await;
    for t in tasks {
        t.abort();
    }
    let log = log.lock().unwrap().clone();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("rolled back to revision 1"), "{err}");
    // Rotated forth, the Secret changed; rotated back, and only then the Secret.
    assert_eq!(
        err.matches("credentials: changing mysql.auth.password")
            .count(),
        2,
        "{err}"
    );
    let changed = position(&log, "secret cv-mysql-credentials NewApp2");
    let back = log
        .iter()
        .enumerate()
        .filter(|(_, l)| *l == "job cv-test-rotate-mysql complete=true")
        .map(|(i, _)| i)
        .find(|&i| i > changed)
        .unwrap_or_else(|| panic!("no rotation back after the change:\n{}", log.join("\n")));
    let restored = log
        .iter()
        .enumerate()
        .position(|(i, l)| i > back && l == "secret cv-mysql-credentials OldApp1")
        .unwrap_or_else(|| panic!("the Secret never went back:\n{}", log.join("\n")));
    assert!(back < restored);
    assert_eq!(
        env.secret_value("cv-mysql-credentials", "mysql-password")
            .await,
        "OldApp1"
    );
    env.done().await;
}
