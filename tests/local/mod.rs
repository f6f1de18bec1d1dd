//! Real programs on loopback for the tests that run what stackctl renders: shell
//! scripts with only the environment a pod would give them, and MariaDB and Redis
//! servers in temporary directories, stopped when the test ends.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::fmt::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// helpers

/// Whether every program is on the PATH; if not: a panic under CI, a skip elsewhere.
pub fn have(programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| which(p).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let mut packages: Vec<&str> = missing.iter().map(|p| debian_package(p)).collect();
    packages.dedup();
    let msg = format!(
        "missing {}: install the Debian packages {} (see .ci/run)",
        missing.join(", "),
        packages.join(" ")
    );
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!ci, "{msg}");
    eprintln!("skipped: {msg}");
    false
}

/// The Debian package that brings `program` (the ones `.ci/run` installs).
fn debian_package(program: &str) -> &str {
    match program {
        "redis-cli" => "redis-tools",
        "mariadbd" | "mariadb-install-db" => "mariadb-server",
        "mysql" | "mariadb" | "mysqldump" => "mariadb-client",
        "nc" => "netcat-openbsd",
        "promtool" => "prometheus",
        "amtool" => "prometheus-alertmanager",
        "sh" | "dash" => "dash",
        "initdb" | "postgres" => "postgresql",
        "psql" | "pg_dump" | "pg_restore" => "postgresql-client",
        "sed" => "sed",
        "head" => "coreutils",
        other => other,
    }
}

pub fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    let extra = ["/usr/sbin", "/sbin"].map(std::path::PathBuf::from);
    std::env::split_paths(&path)
        .chain(extra)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Runs a script as its Job would: `sh -c <script>` with nothing but the given
/// variables (plus PATH and a HOME), so nothing of the test's environment leaks in.
pub fn run(script: &str, env: &[(&str, &str)]) -> Output {
    spawn(script, env).wait()
}

/// A script started by [`spawn`], for tests that act while it runs.
pub struct Running {
    child: Child,
    env: Vec<String>,
    _home: tempfile::TempDir,
}

/// [`run`], without waiting for the script to finish.
pub fn spawn(script: &str, env: &[(&str, &str)]) -> Running {
    let home = tempfile::tempdir().unwrap();
    let path = format!(
        "{}:/usr/sbin:/sbin",
        std::env::var("PATH").unwrap_or_default()
    );
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env_clear()
        .env("PATH", path)
        .env("HOME", home.path())
        .env("TMPDIR", home.path())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh runs");
    let env = env
        .iter()
        .map(|(k, v)| {
            if k.contains("PASS") || k.contains("AUTH") {
                format!("{k}=<{} chars>", v.len())
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    Running {
        child,
        env,
        _home: home,
    }
}

impl Running {
    /// Waits for the script and prints what it said, so a failing test shows it.
    pub fn wait(self) -> Output {
        let out = self.child.wait_with_output().expect("sh runs");
        eprintln!(
            "--- env {:?}\n--- stdout\n{}--- stderr\n{}--- exit {:?}",
            self.env,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            out.status.code()
        );
        out
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A port nothing listens on right now (and, for the servers started here, theirs).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for_port(port: u16, server: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = server.try_wait() {
            panic!(
                "server exited with {status} before listening on {port}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "nothing listens on {port} after 60s:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// A server process, killed when the test ends however it ends.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Passwords that break naive quoting: spaces, both quotes, `#` (option-file
/// comments), `\` (option-file escapes), `$` and `%` (shell and printf).
pub const NASTY: &str = "p@ss w\"o'rd#1$x%s\\n\\";

// ---------------------------------------------------------------------------
// MySQL (MariaDB)

pub struct Mariadb {
    server: Option<Server>,
    pub port: u16,
    socket: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl Mariadb {
    /// Runs SQL as root over the socket; the output in batch form (tab-separated,
    /// no headers). Panics on failure.
    pub fn root_sql(&self, sql: &str) -> String {
        let client = which("mariadb").or_else(|| which("mysql")).unwrap();
        let out = Command::new(client)
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .args(["-u", "root", "-N", "-B", "-e", sql])
            .output()
            .expect("the mariadb client runs");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Kills the server; its data stays for [`Mariadb::start`].
    pub fn stop(&mut self) {
        self.server = None;
    }

    /// Starts the server again on its port with its data: users and databases exist
    /// from its first connection on. Returns once it listens.
    pub fn start(&mut self) {
        let log = self.dir.path().join("mysqld.log");
        let child = Command::new(which("mariadbd").unwrap())
            .arg("--no-defaults")
            .arg(format!(
                "--datadir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--socket={}", self.socket.display()))
            .arg(format!(
                "--tmpdir={}",
                self.dir.path().join("tmp").display()
            ))
            .arg(format!("--port={}", self.port))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("mysqld.pid").display()
            ))
            .arg(format!("--log-error={}", log.display()))
            .args([
                "--skip-networking=0",
                "--bind-address=127.0.0.1",
                // Users are matched by IP, so no anonymous ''@'localhost' shadows them.
                "--skip-name-resolve",
                "--user=root",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd starts");
        let mut server = Server(child);
        wait_for_port(self.port, &mut server.0, &log);
        self.server = Some(server);
    }
}

pub fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

pub fn start_mariadb() -> Mariadb {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let socket = dir.path().join("mysqld.sock");
    let port = free_port();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // Each instance gets its own tmpdir: servers started side by side by parallel
    // tests share /tmp otherwise, and one's bootstrap once failed removing an
    // internal temporary table ("Could not remove temporary table ... error: 2").
    let install = Command::new(which("mariadb-install-db").unwrap())
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--tmpdir={}", tmp.display()))
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .arg("--user=root")
        .output()
        .expect("mariadb-install-db runs");
    assert!(
        install.status.success(),
        "mariadb-install-db failed:\n{}{}",
        String::from_utf8_lossy(&install.stdout),
        String::from_utf8_lossy(&install.stderr)
    );
    let mut db = Mariadb {
        server: None,
        port,
        socket,
        dir,
    };
    db.start();

    let setup = format!(
        "CREATE DATABASE clickvisual; CREATE DATABASE other;
         CREATE USER 'clickvisual'@'%' IDENTIFIED BY 'RightPw1';
         GRANT ALL ON clickvisual.* TO 'clickvisual'@'%';
         CREATE USER 'nasty'@'%' IDENTIFIED BY {};
         GRANT ALL ON clickvisual.* TO 'nasty'@'%';",
        sql_string(NASTY)
    );
    let client = which("mariadb").or_else(|| which("mysql")).unwrap();
    let out = Command::new(client)
        .arg("--no-defaults")
        .arg(format!("--socket={}", db.socket.display()))
        .args(["-u", "root", "-e", &setup])
        .output()
        .expect("the mariadb client runs");
    assert!(
        out.status.success(),
        "setting up MariaDB failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

// ---------------------------------------------------------------------------
// PostgreSQL

/// The directory of Debian's PostgreSQL server programs (`initdb`, `postgres`), which
/// are not on the PATH: `/usr/lib/postgresql/<major>/bin`, the newest major.
pub fn postgres_bin() -> Option<std::path::PathBuf> {
    let mut found: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// Whether PostgreSQL's server and client are installed; if not: a panic under CI,
/// a skip elsewhere (as [`have`]).
pub fn have_postgres() -> bool {
    if !have(&["psql", "sh"]) {
        return false;
    }
    if postgres_bin().is_some() {
        return true;
    }
    let msg = "missing initdb and postgres (/usr/lib/postgresql/<major>/bin): install the Debian package postgresql (see .ci/run)";
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!ci, "{msg}");
    eprintln!("skipped: {msg}");
    false
}

/// A throwaway PostgreSQL on loopback: password (SCRAM) authentication over TCP
/// for everyone, trust over its private socket for the test's own setup.
pub struct Postgres {
    _server: Server,
    pub port: u16,
    pub socket_dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// Whether the tests run as root (as in CI).
fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// `nobody` on Debian.
const NOBODY: u32 = 65534;

/// The server refuses to run as root; tests in CI run as root, so then the server
/// programs run as `nobody`, owning the data directory. `setpriv` (util-linux)
/// execs the program itself, so killing the child kills the server.
fn as_server_user(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new(which("setpriv").expect("setpriv (util-linux) is installed"));
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    /// Runs SQL as the superuser `postgres` over the socket (trust); tuples only.
    /// Panics on failure.
    pub fn superuser_sql(&self, sql: &str) -> String {
        let out = Command::new(which("psql").unwrap())
            .args([
                "-X",
                "-q",
                "-tA",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .arg("-h")
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-c", sql])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

pub fn start_postgres() -> Postgres {
    let bin = postgres_bin().expect("checked by have_postgres");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let socket_dir = dir.path().join("sock");
    std::fs::create_dir(&socket_dir).unwrap();
    let root = is_root();
    if root {
        for p in [dir.path(), socket_dir.as_path()] {
            std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY)).unwrap();
        }
    }
    let init = as_server_user(&bin.join("initdb"), root)
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
        ])
        .output()
        .expect("initdb runs");
    assert!(
        init.status.success(),
        "initdb failed:\n{}{}",
        String::from_utf8_lossy(&init.stdout),
        String::from_utf8_lossy(&init.stderr)
    );
    let port = free_port();
    let log = dir.path().join("postgres.log");
    let log_file = std::fs::File::create(&log).unwrap();
    if root {
        std::os::unix::fs::chown(&log, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let child = as_server_user(&bin.join("postgres"), root)
        .arg("-D")
        .arg(&data)
        .arg("-k")
        .arg(&socket_dir)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
        .arg("-p")
        .arg(port.to_string())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .expect("postgres starts");
    let mut server = Server(child);
    wait_for_port(port, &mut server.0, &log);
    // The port opens while recovery still runs, and connections until then fail
    // with "the database system is starting up": wait for pg_isready to say yes.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = Command::new(bin.join("pg_isready"))
            .arg("-h")
            .arg(&socket_dir)
            .arg("-p")
            .arg(port.to_string())
            .arg("-q")
            .status()
            .expect("pg_isready runs");
        if ready.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "postgres does not accept connections after 60s:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(100));
    }
    Postgres {
        _server: server,
        port,
        socket_dir,
        _dir: dir,
    }
}

/// A ClickHouse server (Debian's `clickhouse-server`, with its packaged
/// `config.xml` and our own users) on a free port of loopback, with one user
/// `clickvisual` whose password is [`NASTY`].
pub struct ClickHouse {
    _server: Server,
    pub port: u16,
    dir: tempfile::TempDir,
}

fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn start_clickhouse() -> ClickHouse {
    start_clickhouse_in(tempfile::tempdir().unwrap(), free_port(), None)
}

/// ZooKeeper (Debian's `zookeeper`, standalone, on a free port of loopback):
/// what Debian's ClickHouse 18.16 keeps its replicated tables' state in, where
/// the image's 24.8 has its own Keeper.
pub struct ZooKeeper {
    _server: Server,
    pub port: u16,
    _dir: tempfile::TempDir,
}

/// `/usr/share/java/zookeeper.jar`, whose manifest names the jars it needs.
const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

pub fn have_zookeeper() -> bool {
    if !have(&["java"]) {
        return false;
    }
    if Path::new(ZOOKEEPER_JAR).is_file() {
        return true;
    }
    let msg =
        format!("missing {ZOOKEEPER_JAR}: install the Debian package zookeeper (see .ci/run)");
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!ci, "{msg}");
    eprintln!("skipped: {msg}");
    false
}

pub fn start_zookeeper() -> ZooKeeper {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = dir.path().join("zookeeper.log");
    let child = Command::new(which("java").unwrap())
        .args([
            "-cp",
            ZOOKEEPER_JAR,
            "org.apache.zookeeper.server.ZooKeeperServerMain",
        ])
        .arg(port.to_string())
        .arg(dir.path().join("data"))
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("ZooKeeper starts");
    let mut server = Server(child);
    wait_for_port(port, &mut server.0, &log);
    ZooKeeper {
        _server: server,
        port,
        _dir: dir,
    }
}

/// `shards × replicas` ClickHouse servers on loopback, as the release runs
/// them: cluster `clickvisual` in `remote_servers` (server `k` is replica
/// `k % replicas` of shard `k / replicas`), macros `{shard}` and `{replica}`,
/// their replicated tables' state in `zookeeper`.
pub fn start_clickhouse_cluster(
    shards: u32,
    replicas: u32,
    zookeeper: &ZooKeeper,
) -> Vec<ClickHouse> {
    let ports: Vec<u16> = (0..shards * replicas).map(|_| free_port()).collect();
    let mut shard_xml = String::new();
    for s in 0..shards {
        shard_xml.push_str("<shard><internal_replication>true</internal_replication>");
        for r in 0..replicas {
            let port = ports[(s * replicas + r) as usize];
            let _ = write!(
                shard_xml,
                "<replica><host>127.0.0.1</host><port>{port}</port><user>clickvisual</user><password>{}</password></replica>",
                xml_text(NASTY)
            );
        }
        shard_xml.push_str("</shard>");
    }
    (0..shards * replicas)
        .map(|k| {
            let xml = format!(
                "<yandex>\n<remote_servers><clickvisual>{shard_xml}</clickvisual></remote_servers>\n\
                 <zookeeper><node><host>127.0.0.1</host><port>{}</port></node></zookeeper>\n\
                 <macros><shard>{}</shard><replica>r{}</replica></macros>\n\
                 <interserver_http_host>127.0.0.1</interserver_http_host>\n</yandex>\n",
                zookeeper.port,
                k / replicas + 1,
                k % replicas + 1
            );
            start_clickhouse_in(tempfile::tempdir().unwrap(), ports[k as usize], Some(&xml))
        })
        .collect()
}

/// A server in `dir` listening on `port`; with `cluster`, a `config.d` file of
/// it beside a copy of Debian's `config.xml` (ClickHouse reads `config.d` next
/// to the configuration file it was given).
fn start_clickhouse_in(dir: tempfile::TempDir, port: u16, cluster: Option<&str>) -> ClickHouse {
    let d = dir.path();
    let mut config = std::path::PathBuf::from("/etc/clickhouse-server/config.xml");
    if let Some(xml) = cluster {
        std::fs::create_dir(d.join("config.d")).unwrap();
        std::fs::write(d.join("config.d/cluster.xml"), xml).unwrap();
        std::fs::copy(&config, d.join("config.xml")).unwrap();
        config = d.join("config.xml");
    }
    let users = d.join("users.xml");
    std::fs::write(
        &users,
        format!(
            "<yandex>\n<profiles><default/></profiles>\n<quotas><default/></quotas>\n<users>\n\
             <clickvisual><password>{}</password><networks><ip>::/0</ip></networks>\
             <profile>default</profile><quota>default</quota></clickvisual>\n</users>\n</yandex>\n",
            xml_text(NASTY)
        ),
    )
    .unwrap();
    let path = |name: &str| format!("{}/{name}/", d.display());
    let log = d.join("clickhouse.log");
    let child = Command::new(which("clickhouse-server").unwrap())
        .arg(format!("--config-file={}", config.display()))
        .arg("--")
        .arg(format!("--path={}", path("data")))
        .arg(format!("--tmp_path={}", path("tmp")))
        .arg(format!("--user_files_path={}", path("user_files")))
        .arg(format!("--format_schema_path={}", path("format_schemas")))
        .arg(format!("--users_config={}", users.display()))
        .arg(format!("--tcp_port={port}"))
        .arg(format!("--http_port={}", free_port()))
        .arg(format!("--interserver_http_port={}", free_port()))
        .arg("--listen_host=127.0.0.1")
        .arg(format!("--logger.log={}", log.display()))
        .arg(format!(
            "--logger.errorlog={}",
            d.join("errors.log").display()
        ))
        .arg("--logger.console=0")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("stderr")).unwrap())
        .spawn()
        .expect("clickhouse-server starts");
    let mut server = Server(child);
    wait_for_port(port, &mut server.0, &log);
    ClickHouse {
        _server: server,
        port,
        dir,
    }
}

impl ClickHouse {
    /// Runs one query as `clickvisual`; its output (TSV). Panics on failure.
    pub fn sql(&self, query: &str) -> String {
        let config = self.dir.path().join("client.xml");
        std::fs::write(
            &config,
            format!(
                "<config><user>clickvisual</user><password>{}</password></config>",
                xml_text(NASTY)
            ),
        )
        .unwrap();
        let out = Command::new(which("clickhouse-client").unwrap())
            .arg(format!("--config-file={}", config.display()))
            .arg(format!("--port={}", self.port))
            .args(["--query", query])
            .output()
            .expect("clickhouse-client runs");
        assert!(
            out.status.success(),
            "{query}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
