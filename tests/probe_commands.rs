//! The probe scripts (`stackctl::stacks::probe_scripts`, and those kept next to a
//! shared component, such as `stackctl::stacks::kit::redis`), run for real: the very
//! strings the probe Jobs run, with `sh -c` and only the environment a Job would give them,
//! against real MariaDB and Redis servers on loopback and against protocol fakes for
//! ClickHouse's HTTP and native ports, ZooKeeper's `srvr` and plain HTTP. Right
//! credentials must pass, wrong ones fail — by the answer, not by a client's exit
//! status.
//!
//! Needs `redis-server`, `redis-cli`, `mariadbd`, `mariadb-install-db`, a `mysql` or
//! `mariadb` client, `curl` and `nc` (Debian: redis-server redis-tools mariadb-server
//! mariadb-client curl netcat-openbsd; `.ci/run` installs them). Without one, a test
//! fails under CI (`CI=true`) and is skipped with a printed reason elsewhere.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

use base64::Engine as _;
use stackctl::stacks::kit::redis;
use stackctl::stacks::probe_scripts as scripts;

mod common;
mod local;
use local::*;

fn mysql_probe(port: u16, user: &str, password: &str, database: &str) -> Output {
    let port = port.to_string();
    run(
        scripts::MYSQL,
        &[
            ("HOST", "127.0.0.1"),
            ("PORT", &port),
            ("DATABASE", database),
            ("MYSQL_USER", user),
            ("MYSQL_PASSWORD", password),
        ],
    )
}

#[test]
fn mysql_select_1_proves_user_password_and_database() {
    if !have(&["sh", "sed", "mariadbd", "mariadb-install-db", "mysql"]) {
        return;
    }
    let db = start_mariadb();

    let ok = mysql_probe(db.port, "clickvisual", "RightPw1", "clickvisual");
    assert!(ok.status.success());
    assert!(
        stdout(&ok).contains("SELECT 1 as clickvisual on 127.0.0.1:"),
        "{}",
        stdout(&ok)
    );

    // Escaping into the option file: the password arrives byte for byte.
    let nasty = mysql_probe(db.port, "nasty", NASTY, "clickvisual");
    assert!(nasty.status.success());

    let wrong = mysql_probe(db.port, "clickvisual", "WrongPw", "clickvisual");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains("Access denied"),
        "{}",
        stderr(&wrong)
    );

    let no_password = mysql_probe(db.port, "clickvisual", "", "clickvisual");
    assert_eq!(no_password.status.code(), Some(1));

    let not_granted = mysql_probe(db.port, "clickvisual", "RightPw1", "other");
    assert_eq!(not_granted.status.code(), Some(1));

    let nobody_there = mysql_probe(free_port(), "clickvisual", "RightPw1", "clickvisual");
    assert_eq!(nobody_there.status.code(), Some(1));
}

#[test]
fn mysql_readiness_logs_in_as_root_with_the_password_file() {
    if !have(&[
        "sh",
        "sed",
        "cat",
        "mariadbd",
        "mariadb-install-db",
        "mysql",
    ]) {
        return;
    }
    let script = common::readiness_script("minimal", "cv", "-mysql");
    let db = start_mariadb();
    // The probe connects to 127.0.0.1 as root (mariadb-install-db creates that
    // account); here it gets a password over TCP.
    db.root_sql(&format!(
        "ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY {}",
        sql_string(NASTY)
    ));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    let port = db.port.to_string();
    // The pod's MySQL listens on the client's default port; here MYSQL_TCP_PORT
    // points the client at the test's server.
    let probe = |password: Option<&str>| {
        if let Some(p) = password {
            std::fs::write(&file, p).unwrap();
        } else {
            let _ = std::fs::remove_file(&file);
        }
        run(
            &script,
            &[
                ("MYSQL_ROOT_PASSWORD_FILE", file.to_str().unwrap()),
                ("MYSQL_TCP_PORT", &port),
            ],
        )
    };
    // The file's password, byte for byte (quotes, backslashes, `#`, `$`).
    let ok = probe(Some(NASTY));
    assert!(ok.status.success(), "{}", stderr(&ok));
    // A rotated password in the file is read on the next run.
    db.root_sql("ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY 'Rotated1'");
    assert!(!probe(Some(NASTY)).status.success());
    assert!(probe(Some("Rotated1")).status.success());
    assert!(!probe(Some("")).status.success());
    // No file, no login (and no login without a password).
    let missing = probe(None);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("password"),
        "{}",
        stderr(&missing)
    );
}

/// The Elasticsearch pod's init container copying the password for the image, as
/// rendered, with its two mounts moved into a temporary directory: the copy holds
/// the password byte for byte with mode 0600, the only modes besides 0400 that the
/// image's `elasticsearch-env-from-file` accepts (`stat -L -c '%a'`); no source file,
/// no copy and a failed container.
#[test]
fn the_elasticsearch_password_copy_is_private_and_exact() {
    use std::os::unix::fs::PermissionsExt;
    if !have(&["sh", "cat"]) {
        return;
    }
    let ms = common::render("aiops-minimal", "aiops", &[]);
    let sts = common::find(&ms, "StatefulSet", "-elasticsearch");
    let init = sts["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "elastic-password")
        .expect("the copying init container");
    let script = init["command"][2].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (secret, copy) = (dir.path().join("secret"), dir.path().join("copy"));
    std::fs::create_dir(&secret).unwrap();
    std::fs::create_dir(&copy).unwrap();
    // The copy's directory first: the Secret's is a prefix of it.
    let script = script
        .replace("/credentials/elastic-copy", copy.to_str().unwrap())
        .replace("/credentials/elastic", secret.to_str().unwrap());
    assert!(!script.contains("/credentials/"), "{script}");

    let missing = run(&script, &[]);
    assert!(!missing.status.success());
    std::fs::write(secret.join("password"), NASTY).unwrap();
    let ok = run(&script, &[]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let copied = copy.join("password");
    assert_eq!(std::fs::read_to_string(&copied).unwrap(), NASTY);
    let mode = std::fs::metadata(&copied).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
}

// ---------------------------------------------------------------------------
// Redis

fn start_redis(password: Option<&str>) -> (Server, u16, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("redis.log");
    let port = free_port();
    let mut cmd = Command::new(which("redis-server").unwrap());
    cmd.arg("--port")
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir.path())
        .arg("--logfile")
        .arg(&log);
    if let Some(p) = password {
        cmd.args(["--requirepass", p]);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts");
    let mut server = Server(child);
    wait_for_port(port, &mut server.0, &log);
    (server, port, dir)
}

fn redis_probe(port: u16, auth: &str) -> Output {
    let port = port.to_string();
    run(
        redis::PROBE_SCRIPT,
        &[
            ("HOST", "127.0.0.1"),
            ("PORT", &port),
            ("REDISCLI_AUTH", auth),
        ],
    )
}

#[test]
fn redis_ping_must_answer_pong_with_the_password() {
    if !have(&["sh", "redis-server", "redis-cli"]) {
        return;
    }
    let (_server, port, _dir) = start_redis(Some(NASTY));

    let ok = redis_probe(port, NASTY);
    assert!(ok.status.success());
    assert!(stdout(&ok).contains("PONG"), "{}", stdout(&ok));

    // redis-cli itself exits 0 here; the output check is what fails the probe.
    let raw = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "ping"])
        .env("REDISCLI_AUTH", "WrongPw")
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&raw.stdout).trim().eq("PONG"),
        "a wrong password got PONG"
    );
    let wrong = redis_probe(port, "WrongPw");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains("did not answer PONG"),
        "{}",
        stderr(&wrong)
    );

    let none = redis_probe(port, "");
    assert_eq!(none.status.code(), Some(1));
    assert!(stderr(&none).contains("NOAUTH"), "{}", stderr(&none));

    let nobody_there = redis_probe(free_port(), NASTY);
    assert_eq!(nobody_there.status.code(), Some(1));
}

/// The kit's Redis start script, run for real: the password a user set, spaces,
/// quotes and backslashes included, reaches redis-server from the password file
/// through the auth file intact.
#[test]
fn the_redis_start_script_keeps_any_password_intact() {
    if !have(&["sh", "sed", "redis-server", "redis-cli"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("auth.conf");
    // The pod's paths and port, moved to this machine; nothing else changes.
    let script = redis::start_script(&redis::ServerConfig {
        level: stackctl::stacks::types::LogLevel::Info,
        maxmemory: 64 << 20,
        maxmemory_policy: redis::MaxmemoryPolicy::default(),
        cluster_domain: None,
    })
    .replace("/tmp/auth.conf", &conf.display().to_string())
    .replace("--port 6379", &format!("--port {port} --bind 127.0.0.1"))
    .replace("--dir /data", &format!("--dir {}", dir.path().display()));
    assert!(
        script.contains("--port") && !script.contains("/data"),
        "{script}"
    );
    let password = dir.path().join("password");
    std::fs::write(&password, NASTY).unwrap();
    let mut server = Server(
        Command::new("sh")
            .args(["-c", &script])
            .env("REDIS_PASSWORD_FILE", &password)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, &mut server.0, &dir.path().join("none.log"));
    let ok = redis_probe(port, NASTY);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("PONG"), "{}", stdout(&ok));
    assert_eq!(redis_probe(port, "p@ss").status.code(), Some(1));
}

#[test]
fn redis_without_a_password_passes_with_an_empty_one() {
    if !have(&["sh", "redis-server", "redis-cli"]) {
        return;
    }
    let (_server, port, _dir) = start_redis(None);
    // External Redis without auth: the Secret key holds "", which must mean no AUTH.
    assert!(redis_probe(port, "").status.success());
    // A password the server does not expect is rejected, as the app's AUTH would be.
    assert_eq!(redis_probe(port, "Unexpected").status.code(), Some(1));
}

// ---------------------------------------------------------------------------
// Fakes for HTTP, ClickHouse and ZooKeeper

/// A request as the fakes see it.
#[derive(Debug, Clone, Default)]
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let mut req = Request {
        method: parts.next()?.to_string(),
        path: parts.next()?.to_string(),
        ..Default::default()
    };
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            // Header values arrive as sent, minus the separator's space.
            let v = v.strip_prefix(' ').unwrap_or(v);
            req.headers.push((k.to_string(), v.to_string()));
        }
    }
    let len: usize = req
        .header("content-length")
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    req.body = String::from_utf8_lossy(&body).into_owned();
    Some(req)
}

/// An HTTP/1.1 server on a free port answering each request with `respond`; every
/// request is kept for assertions.
fn http_fake(
    respond: impl Fn(&Request) -> (u16, String) + Send + 'static,
) -> (u16, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some(req) = read_request(&stream) else {
                continue;
            };
            let (code, body) = respond(&req);
            log.lock().unwrap().push(req);
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

/// A TCP server writing `reply` to each connection after reading one line (a
/// four-letter word).
fn line_fake(reply: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    port
}

/// ClickHouse's native port as an HTTP client sees it: it reads the request, answers
/// that this port is for clickhouse-client, and hangs up.
fn native_fake() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            // The whole request first: closing with unread input would reset the
            // connection before curl reads the answer.
            let _ = read_request(&stream);
            let _ = stream.write_all(
                b"HTTP/1.0 400 Bad Request\r\n\r\nPort 9000 is for clickhouse-client program.\r\nYou must use port 8123 for HTTP.\r\n",
            );
        }
    });
    port
}

/// ClickHouse's HTTP interface as far as the probe uses it: `/ping`, and queries
/// authenticated by `X-ClickHouse-User`/`X-ClickHouse-Key`.
fn clickhouse_fake(user: &'static str, key: &'static str) -> (u16, Arc<Mutex<Vec<Request>>>) {
    http_fake(move |req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/ping") => (200, "Ok.\n".into()),
        ("POST", path) => {
            if req.header("X-ClickHouse-User") != Some(user)
                || req.header("X-ClickHouse-Key") != Some(key)
            {
                return (
                    516,
                    format!(
                        "Code: 516. DB::Exception: {user}: Authentication failed. (AUTHENTICATION_FAILED)\n"
                    ),
                );
            }
            if !path.contains("database=logger") {
                return (
                    404,
                    "Code: 81. DB::Exception: Database x does not exist. (UNKNOWN_DATABASE)\n"
                        .into(),
                );
            }
            if req.body.trim() == "SELECT 1" {
                (200, "1\n".into())
            } else {
                (400, "Code: 62. Syntax error\n".into())
            }
        }
        _ => (404, "not found\n".into()),
    })
}

fn clickhouse_probe(http: u16, native: u16, user: &str, password: &str) -> Output {
    let (http, native) = (http.to_string(), native.to_string());
    run(
        scripts::CLICKHOUSE,
        &[
            ("HOST", "127.0.0.1"),
            ("HTTP_PORT", &http),
            ("NATIVE_PORT", &native),
            ("DATABASE", "logger"),
            ("CLICKHOUSE_USER", user),
            ("CLICKHOUSE_PASSWORD", password),
        ],
    )
}

#[test]
fn clickhouse_ping_query_with_credentials_and_native_port() {
    const KEY: &str = "Ch pw \"with' $quotes% \\ and#hash";
    if !have(&["sh", "curl", "head"]) {
        return;
    }
    let (http, seen) = clickhouse_fake("clickvisual", KEY);
    let native = native_fake();

    let ok = clickhouse_probe(http, native, "clickvisual", KEY);
    assert!(ok.status.success());
    assert!(stdout(&ok).contains("speaks ClickHouse's native protocol"));
    // The password travelled as a header, verbatim.
    let requests = seen.lock().unwrap().clone();
    let query = requests.iter().find(|r| r.method == "POST").unwrap();
    assert_eq!(query.header("X-ClickHouse-Key"), Some(KEY));
    assert!(!query.path.contains("Ch%20pw") && !query.path.contains("pw"));

    let wrong = clickhouse_probe(http, native, "clickvisual", "WrongPw");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains("Authentication failed"),
        "{}",
        stderr(&wrong)
    );

    // A native port that is really something else (here: the HTTP port).
    let not_native = clickhouse_probe(http, http, "clickvisual", KEY);
    assert_eq!(not_native.status.code(), Some(1));
    assert!(stderr(&not_native).contains("is not ClickHouse's native port"));

    let nobody_there = clickhouse_probe(free_port(), native, "clickvisual", KEY);
    assert_eq!(nobody_there.status.code(), Some(1));
}

#[test]
fn http_check_needs_2xx_and_the_expected_text() {
    if !have(&["sh", "curl", "head"]) {
        return;
    }
    let (port, _) = http_fake(|req| match req.path.as_str() {
        "/api/v1/install" => (200, r#"{"code":0,"msg":"succ","data":{}}"#.into()),
        "/api/v1/health" => (500, "error".into()),
        _ => (200, "<html>static UI</html>".into()),
    });
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let probe = |u: &str, expect: &str| run(scripts::HTTP, &[("URL", u), ("EXPECT", expect)]);

    assert!(probe(&url("/api/v1/install"), "\"code\"").status.success());
    let unhealthy = probe(&url("/api/v1/health"), "ok");
    assert_eq!(unhealthy.status.code(), Some(1));
    assert!(
        stderr(&unhealthy).contains("HTTP 500"),
        "{}",
        stderr(&unhealthy)
    );
    let wrong_body = probe(&url("/"), "\"code\"");
    assert_eq!(wrong_body.status.code(), Some(1));
    assert!(
        stderr(&wrong_body).contains("lacks"),
        "{}",
        stderr(&wrong_body)
    );
    let nobody_there = probe(&format!("http://127.0.0.1:{}/", free_port()), "ok");
    assert_eq!(nobody_there.status.code(), Some(1));
}

/// The kibana-setup Job's script, run with curl against a fake Elasticsearch: it
/// reads both passwords from their files (as the Job mounts them), authenticates as
/// the elastic user with the one and sets kibana_system's to the other.
#[test]
fn kibana_setup_reads_its_passwords_from_files() {
    if !have(&["sh", "curl", "cat"]) {
        return;
    }
    let (port, seen) = http_fake(|_| (200, "{}".into()));
    let dir = tempfile::tempdir().unwrap();
    let es_file = dir.path().join("es");
    let kibana_file = dir.path().join("kibana");
    std::fs::write(&es_file, "es-pw-1").unwrap();
    std::fs::write(&kibana_file, "kibana-pw-2").unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let out = run(
        stackctl::stacks::aiops::kibana::SET_PASSWORD,
        &[
            ("ES_URL", url.as_str()),
            ("ES_HOST", "127.0.0.1"),
            ("ES_USER", "elastic"),
            ("ES_PASSWORD_FILE", es_file.to_str().unwrap()),
            ("KIBANA_PASSWORD_FILE", kibana_file.to_str().unwrap()),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = seen.lock().unwrap();
    let post = seen
        .iter()
        .find(|r| r.path == "/_security/user/kibana_system/_password")
        .expect("the password request");
    assert_eq!(post.method, "POST");
    assert_eq!(post.body, r#"{"password":"kibana-pw-2"}"#);
    let basic = base64::engine::general_purpose::STANDARD.encode("elastic:es-pw-1");
    assert_eq!(
        post.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
}

#[test]
fn zookeeper_srvr_must_report_a_mode() {
    if !have(&["sh", "nc"]) {
        return;
    }
    let serving = line_fake(
        "Zookeeper version: 3.9.3\nLatency min/avg/max: 0/0.0/0\nMode: standalone\nNode count: 5\n",
    );
    let no_quorum = line_fake("This ZooKeeper instance is not currently serving requests\n");
    let probe = |port: u16| {
        let port = port.to_string();
        run(
            scripts::ZOOKEEPER,
            &[("HOST", "127.0.0.1"), ("PORT", &port)],
        )
    };
    let ok = probe(serving);
    assert!(ok.status.success());
    assert!(stdout(&ok).contains("Mode: standalone"));
    let down = probe(no_quorum);
    assert_eq!(down.status.code(), Some(1));
    assert!(
        stderr(&down).contains("reported no Mode"),
        "{}",
        stderr(&down)
    );
    assert_eq!(probe(free_port()).status.code(), Some(1));
}

#[test]
fn scripts_are_posix_and_read_credentials_from_the_environment_only() {
    if !have(&["dash"]) {
        return;
    }
    for (name, script) in [
        ("MYSQL", scripts::MYSQL),
        ("REDIS", redis::PROBE_SCRIPT),
        ("CLICKHOUSE", scripts::CLICKHOUSE),
        ("KAFKA", scripts::KAFKA),
        ("ZOOKEEPER", scripts::ZOOKEEPER),
        ("HTTP", scripts::HTTP),
    ] {
        // Syntax under a strictly POSIX shell (busybox ash and dash are what images have).
        let check = Command::new("dash")
            .args(["-n", "-c", script])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        // No client gets a password option: credentials go by env, file or stdin.
        for flag in [" -p\"$", " -a ", "--password", " -u \"$CLICKHOUSE_USER\":"] {
            assert!(!script.contains(flag), "{name} passes {flag:?}");
        }
    }
}
