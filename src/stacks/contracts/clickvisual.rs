//! The ClickVisual stack's own images (Redis and Prometheus are in `shared`).

use super::shared::{BACKUP_PATHS, PROBE_GID, PROBE_PATHS, PROBE_UID};
use super::{
    ConfigFile, Env, Exception, Fact, Health, ImageContract, Match, Port, RealRun, Rule,
    by_stackctl, fact, unverified, up,
};

const NO_API: Fact<Option<&str>> = fact(
    None,
    unverified("the image uses no Kubernetes API; no minimum stated upstream"),
);

const CV: &str = "clickvisual/clickvisual";
const CV_TAG: &str = "v1.0.7";
/// The framework clickvisual v1.0.7's go.mod pins.
const EGO: &str = "gotomicro/ego";
const EGO_TAG: &str = "v1.2.2";

pub static CLICKVISUAL: ImageContract = ImageContract {
    image: "clickvisual/clickvisual",
    tag: "1.0.7",
    matched_by: Match::Image,
    about: &[
        Fact {
            note: "docker/metadata-action type=semver,pattern={{version}} on tag v1.0.7 yields `1.0.7`",
            ..fact(
                "tag 1.0.7 (no leading v) is what CI publishes for the v1.0.7 tag",
                up(CV, CV_TAG, ".github/workflows/publish-docker.yml"),
            )
        },
        fact(
            "the tag exists on Docker Hub",
            unverified(
                "the registry was not queried; only the workflow that publishes it was read",
            ),
        ),
        Fact {
            note: "`elog.Load(\"logger\")` in invoker.Init: stackctl renders `[logger] writer = \"stderr\"`",
            ..fact(
                "ClickVisual's own logger writes to the writer its `[logger]` section names",
                up(CV, CV_TAG, "api/internal/invoker/invoker.go"),
            )
        },
        Fact {
            note: "the writer defaults to EGO_LOG_WRITER, else `file`; `logger.default` and `logger.ego` (not rendered) would rebuild them (ego_function.go initLogger)",
            ..fact(
                "ego's own loggers write a file under ./logs (EGO_LOG_PATH) unless EGO_LOG_WRITER=stderr",
                up(EGO, EGO_TAG, "core/elog/config.go"),
            )
        },
        Fact {
            note: "os.WriteFile only for an instance whose Prometheus rule store is `file`, at the path set in the UI (a path on no volume here: use the ConfigMap or operator store); the only other file written, the agent search's Excel export, runs in the `agent` command or with inspectLog.enable, which stackctl does not set (api/internal/pkg/agent/)",
            ..fact(
                "the server writes no file of its own at start-up or while serving",
                up(CV, CV_TAG, "api/internal/service/alarm/rule/filesystem.go"),
            )
        },
        Fact {
            note: "ego v1.2.2, egorm v1.0.4, eredis v1.0.3 and gotomicro/cetus call no os.Create/OpenFile/MkdirAll/WriteFile/CreateTemp outside that file logger; ClickVisual hands casbin its model's path and a gorm adapter over MySQL (service/permission/pmsplugin/pms.go) and keeps sessions in gin-contrib's memstore or Redis (pkg/session/container.go)",
            ..fact(
                "the framework writes no file either with the loggers on stderr",
                up(EGO, EGO_TAG, "core/elog/file_writer_builder.go"),
            )
        },
        Fact {
            note: "COPY without --chown keeps modes: config/ is 100644 in git, bin/clickvisual is what `go build` writes; so any uid reads and runs them",
            ..fact(
                "the image's files are root's and world-readable",
                up(CV, CV_TAG, "Dockerfile"),
            )
        },
        fact(
            "works with ClickHouse 24.8 (new analyzer on by default since 24.3)",
            unverified(
                "upstream tests against clickhouse-server 23.4.1 (docker-compose.yml) with clickhouse-go v2.3.0 (go.mod); nothing upstream says 24.x or the new analyzer was tried, and no run against 24.8 was made here",
            ),
        ),
    ],
    uid: Fact {
        note: "no USER line: root",
        ..fact(Some(0), up(CV, CV_TAG, "Dockerfile"))
    },
    gid: Fact {
        note: "no USER line: root (stackctl runs it as 10001:10001, see the exceptions)",
        ..fact(Some(0), up(CV, CV_TAG, "Dockerfile"))
    },
    writable_paths: &[Fact {
        note: "gin's form binding (ParseMultipartForm, 32 MiB in memory) on a multipart body: Go spools file parts past that to os.TempDir()",
        ..fact("/tmp", up("gin-gonic/gin", "v1.9.1", "binding/form.go"))
    }],
    data_dir: fact(None, up(CV, CV_TAG, "config/default.toml")),
    config_files: &[
        fact(
            ConfigFile {
                path: "/clickvisual/config/default.toml (EGO_CONFIG_PATH overrides)",
                format: "TOML",
            },
            up(CV, CV_TAG, "config/default.toml"),
        ),
        fact(
            ConfigFile {
                path: "/clickvisual/config/rbac.conf, resource.yaml (referenced by default.toml)",
                format: "casbin model, YAML",
            },
            up(CV, CV_TAG, "config/default.toml"),
        ),
    ],
    entrypoint: fact("none", up(CV, CV_TAG, "Dockerfile")),
    command: fact(
        "sh -c \"./bin/clickvisual server\"",
        up(CV, CV_TAG, "Dockerfile"),
    ),
    flags: &[fact(
        "server (config from EGO_CONFIG_PATH); init job: wait-for-mysql uses nc",
        by_stackctl("src/stacks/clickvisual/app.rs"),
    )],
    ports: &[
        fact(
            Port {
                number: 19001,
                what: "HTTP: UI and API ([server.http] port)",
            },
            up(CV, CV_TAG, "config/default.toml"),
        ),
        fact(
            Port {
                number: 19011,
                what: "governor: metrics, build info ([server.governor] port)",
            },
            up(CV, CV_TAG, "config/default.toml"),
        ),
    ],
    health: &[
        fact(
            Health {
                port: 19001,
                path: "/",
                what: "any path with header `X-Health-Check: 1`: ego's first middleware \
                       (healthcheck.Default, RaMin0/gin-health-check) answers 200 `ok` \
                       before routing, sessions or MySQL",
            },
            up(EGO, EGO_TAG, "server/egin/container.go"),
        ),
        fact(
            Health {
                port: 19001,
                path: "/api/v1/install",
                what: "unauthenticated; answers whether the schema is installed",
            },
            up(CV, CV_TAG, "api/internal/router/router.go"),
        ),
        fact(
            Health {
                port: 19011,
                path: "/build/info",
                what: "ego governor build info",
            },
            up(EGO, EGO_TAG, "server/egovernor/component.go"),
        ),
    ],
    base_path: None,
    env: &[
        fact(
            Env {
                name: "EGO_CONFIG_PATH",
                effect: "config file path, overrides --config",
            },
            up(CV, CV_TAG, "api/internal/pkg/config/config.go"),
        ),
        fact(
            Env {
                name: "EGO_LOG_WRITER",
                effect: "stderr: ego's loggers write to stderr, not to files under ./logs",
            },
            up(EGO, EGO_TAG, "core/eapp/env.go"),
        ),
    ],
    min_kubernetes: NO_API,
    real_run: RealRun::None {
        why: "not packaged by Debian; what it reads from MySQL is checked by running its schema Job's script against MariaDB (tests/schema.rs)",
    },
    exceptions: &[
        CV_UID,
        CV_GID,
        Exception {
            container: "wait-for-mysql",
            ..CV_UID
        },
        Exception {
            container: "wait-for-mysql",
            ..CV_GID
        },
        Exception {
            container: "wait-for-redis",
            ..CV_UID
        },
        Exception {
            container: "wait-for-redis",
            ..CV_GID
        },
        WAIT_WRITES_NOTHING,
        Exception {
            container: "wait-for-redis",
            ..WAIT_WRITES_NOTHING
        },
    ],
};

/// ClickVisual runs as 10001, not as the image's root: it writes no file of the
/// image (see `about`), and its Deployment has no volume a uid would own.
const CV_UID: Exception = Exception {
    container: "clickvisual",
    rule: Rule::Uid,
    why: "runs as 10001 on purpose: the image's files are world-readable and the server writes only to /tmp, an emptyDir; the pod has no volume an earlier uid owns",
    known_defect: false,
};

/// The wait containers run the image's busybox `nc` in a shell loop, not the server.
const WAIT_WRITES_NOTHING: Exception = Exception {
    container: "wait-for-mysql",
    rule: Rule::WritablePaths,
    why: "runs `nc -z` in a shell loop, not the server, and writes nothing: no /tmp",
    known_defect: false,
};

const CV_GID: Exception = Exception {
    rule: Rule::Gid,
    why: "group 10001, the uid's own: no file of the image needs group root",
    ..CV_UID
};

const MYSQL: &str = "docker-library/mysql";
const MYSQL_REV: &str = "7f30fdb0738041fc5125e8218e393e0a891243e9";
const MYSQL_DF: &str = "8.4/Dockerfile.oracle";
const MYSQL_EP: &str = "8.4/docker-entrypoint.sh";

pub static MYSQL_8_4: ImageContract = ImageContract {
    image: "mysql",
    tag: "8.4",
    matched_by: Match::Image,
    about: &[],
    uid: fact(Some(999), up(MYSQL, MYSQL_REV, MYSQL_DF)),
    gid: fact(Some(999), up(MYSQL, MYSQL_REV, MYSQL_DF)),
    writable_paths: &[
        fact("/var/lib/mysql", up(MYSQL, MYSQL_REV, MYSQL_DF)),
        fact("/var/run/mysqld", up(MYSQL, MYSQL_REV, MYSQL_DF)),
    ],
    data_dir: fact(Some("/var/lib/mysql"), up(MYSQL, MYSQL_REV, MYSQL_DF)),
    config_files: &[
        fact(
            ConfigFile {
                path: "/etc/my.cnf, includes /etc/mysql/conf.d/",
                format: "my.cnf (INI)",
            },
            up(MYSQL, MYSQL_REV, MYSQL_DF),
        ),
        fact(
            ConfigFile {
                path: "/docker-entrypoint-initdb.d/ (*.sh, *.sql, *.sql.gz on first start)",
                format: "SQL, shell",
            },
            up(MYSQL, MYSQL_REV, MYSQL_EP),
        ),
    ],
    entrypoint: fact("docker-entrypoint.sh", up(MYSQL, MYSQL_REV, MYSQL_DF)),
    command: fact("mysqld", up(MYSQL, MYSQL_REV, MYSQL_DF)),
    flags: &[fact(
        "--character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci",
        by_stackctl("src/stacks/clickvisual/mysql.rs"),
    )],
    ports: &[
        fact(
            Port {
                number: 3306,
                what: "MySQL protocol",
            },
            up(MYSQL, MYSQL_REV, MYSQL_DF),
        ),
        fact(
            Port {
                number: 33060,
                what: "X protocol",
            },
            up(MYSQL, MYSQL_REV, MYSQL_DF),
        ),
    ],
    health: &[],
    base_path: None,
    env: &[
        fact(
            Env {
                name: "MYSQL_ROOT_PASSWORD",
                effect: "root password on first initialisation (or MYSQL_ALLOW_EMPTY_PASSWORD / MYSQL_RANDOM_ROOT_PASSWORD)",
            },
            up(MYSQL, MYSQL_REV, MYSQL_EP),
        ),
        Fact {
            note: "stackctl sets MYSQL_ROOT_PASSWORD_FILE and MYSQL_PASSWORD_FILE, files of the credentials Secret",
            ..fact(
                Env {
                    name: "<VAR>_FILE for MYSQL_ROOT_HOST, MYSQL_DATABASE, MYSQL_USER, MYSQL_PASSWORD, MYSQL_ROOT_PASSWORD",
                    effect: "`file_env` in `docker_setup_env`: the variable's value from the named file, exclusive with the variable itself; the values are used only when initialising an empty data directory",
                },
                up(MYSQL, MYSQL_REV, MYSQL_EP),
            )
        },
        fact(
            Env {
                name: "MYSQL_DATABASE",
                effect: "database created on first initialisation",
            },
            up(MYSQL, MYSQL_REV, MYSQL_EP),
        ),
        fact(
            Env {
                name: "MYSQL_USER, MYSQL_PASSWORD",
                effect: "account created with all privileges on MYSQL_DATABASE",
            },
            up(MYSQL, MYSQL_REV, MYSQL_EP),
        ),
    ],
    min_kubernetes: NO_API,
    real_run: RealRun::Debian {
        package: "mariadb-server 10.11 (bookworm)",
        tests: "tests/schema.rs (the schema Job's script, every supported ClickVisual version), tests/probe_commands.rs (the probe Job's script, and the pod's readiness probe reading the root password file), tests/rotation_scripts.rs (password rotation)",
        unproven: "MariaDB stands in for MySQL 8.4: authentication plugins, reserved words and collations differ (unit tests check the schema against MySQL 8.4's), and the image's entrypoint is not run",
    },
    exceptions: &[
        BACKUP_PATHS,
        Exception {
            container: "apply-schema",
            rule: Rule::WritablePaths,
            why: "the schema Job runs the mysql client only, which writes nothing but HOME=/tmp (an emptyDir)",
            known_defect: false,
        },
        Exception {
            container: "apply-schema",
            rule: Rule::Uid,
            why: "the schema Job runs as nobody (65534) on purpose, as the probe does: only the mysql client runs, which needs no file of the image's user",
            known_defect: false,
        },
        Exception {
            container: "apply-schema",
            rule: Rule::Gid,
            why: "nobody's group (65534), see uid",
            known_defect: false,
        },
        PROBE_UID,
        PROBE_GID,
        PROBE_PATHS,
    ],
};

const CH_WHY: &str = "ClickHouse/ClickHouse is too large to fetch here; docker/server/Dockerfile.ubuntu was read at commit 001409c (25.4.4.25), not at the 24.8 tag";

pub static CLICKHOUSE: ImageContract = ImageContract {
    image: "clickhouse/clickhouse-server",
    tag: "24.8",
    matched_by: Match::Image,
    about: &[fact(
        "the image is published as clickhouse/clickhouse-server (Docker Hub)",
        unverified("the registry was not queried"),
    )],
    uid: Fact {
        note: "groupadd/useradd --uid=101, fixed on purpose for rootless containers",
        ..fact(Some(101), unverified(CH_WHY))
    },
    gid: fact(Some(101), unverified(CH_WHY)),
    writable_paths: &[
        fact("/var/lib/clickhouse", unverified(CH_WHY)),
        fact("/var/log/clickhouse-server", unverified(CH_WHY)),
    ],
    data_dir: fact(Some("/var/lib/clickhouse"), unverified(CH_WHY)),
    config_files: &[
        fact(
            ConfigFile {
                path: "/etc/clickhouse-server/config.xml, config.d/*.xml, users.d/*.xml",
                format: "XML",
            },
            unverified(CH_WHY),
        ),
        fact(
            ConfigFile {
                path: "/etc/stackctl/clickhouse (stackctl's config, passed by CLICKHOUSE_CONFIG)",
                format: "XML",
            },
            by_stackctl("src/stacks/clickvisual/clickhouse.rs"),
        ),
    ],
    entrypoint: fact("/entrypoint.sh", unverified(CH_WHY)),
    command: fact(
        "none (the entrypoint starts clickhouse-server)",
        unverified(CH_WHY),
    ),
    flags: &[],
    ports: &[
        fact(
            Port {
                number: 8123,
                what: "HTTP",
            },
            unverified(CH_WHY),
        ),
        fact(
            Port {
                number: 9000,
                what: "native",
            },
            unverified(CH_WHY),
        ),
        fact(
            Port {
                number: 9009,
                what: "interserver (replication)",
            },
            unverified(CH_WHY),
        ),
        fact(
            Port {
                number: 9181,
                what: "ClickHouse Keeper client",
            },
            by_stackctl("src/stacks/clickvisual/clickhouse.rs KEEPER_PORT"),
        ),
        fact(
            Port {
                number: 9234,
                what: "ClickHouse Keeper raft",
            },
            by_stackctl("src/stacks/clickvisual/clickhouse.rs RAFT_PORT"),
        ),
    ],
    health: &[fact(
        Health {
            port: 8123,
            path: "/ping",
            what: "answers Ok. once the server accepts queries",
        },
        unverified(
            "the entrypoint polls /ping at 25.4 (docker/server/entrypoint.sh); not read at 24.8",
        ),
    )],
    base_path: None,
    env: &[
        fact(
            Env {
                name: "CLICKHOUSE_USER, CLICKHOUSE_PASSWORD, CLICKHOUSE_DB",
                effect: "the entrypoint writes users.d/default-user.xml and creates the database",
            },
            unverified(CH_WHY),
        ),
        Fact {
            note: "stackctl sets it to a file of the credentials Secret, and its start command stops when the file is unreadable",
            ..fact(
                Env {
                    name: "CLICKHOUSE_PASSWORD_FILE",
                    effect: "if the file exists, the entrypoint's (non-exported) CLICKHOUSE_PASSWORD is its content, which goes into users.d/default-user.xml at every start; a missing file silently means an empty password",
                },
                up(
                    "ClickHouse/docker-library",
                    "0dda4ee3a166176d28fda59b9bfedef80ebc3023",
                    "server/24.8.14.39/entrypoint.sh",
                ),
            )
        },
        fact(
            Env {
                name: "CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT",
                effect: "1: the user may manage users and grants",
            },
            unverified(CH_WHY),
        ),
        fact(
            Env {
                name: "CLICKHOUSE_CONFIG",
                effect: "path of config.xml",
            },
            unverified(CH_WHY),
        ),
    ],
    min_kubernetes: NO_API,
    real_run: RealRun::None {
        why: "Debian bookworm packages ClickHouse 18.16, six years older than 24.8: nothing of it is run",
    },
    exceptions: &[],
};

const KAFKA_WHY: &str = "read on apache/kafka branch 3.9 at c821449 (2024-10), before 3.9.1: the stored snapshot has no 3.9.1 tag";

pub static KAFKA: ImageContract = ImageContract {
    image: "apache/kafka",
    tag: "3.9.1",
    matched_by: Match::Image,
    about: &[],
    uid: Fact {
        note: "adduser -D appuser on eclipse-temurin alpine: the first free uid, no fixed number",
        ..fact(None, unverified(KAFKA_WHY))
    },
    gid: Fact {
        note: "the appuser group, no fixed number; /var/lib/kafka is appuser:root, group-writable",
        ..fact(None, unverified(KAFKA_WHY))
    },
    writable_paths: &[
        fact("/var/lib/kafka/data", unverified(KAFKA_WHY)),
        Fact {
            note: "the launcher writes server.properties there",
            ..fact("/opt/kafka/config", unverified(KAFKA_WHY))
        },
        fact("/usr/logs", unverified(KAFKA_WHY)),
    ],
    data_dir: fact(Some("/var/lib/kafka/data"), unverified(KAFKA_WHY)),
    config_files: &[fact(
        ConfigFile {
            path: "/opt/kafka/config/server.properties, generated from KAFKA_* env; /mnt/shared/config overrides",
            format: "Java properties",
        },
        unverified(KAFKA_WHY),
    )],
    entrypoint: fact("none", unverified(KAFKA_WHY)),
    command: fact("/etc/kafka/docker/run", unverified(KAFKA_WHY)),
    flags: &[],
    ports: &[
        fact(
            Port {
                number: 9092,
                what: "clients",
            },
            unverified(KAFKA_WHY),
        ),
        fact(
            Port {
                number: 9093,
                what: "KRaft controller",
            },
            by_stackctl("src/stacks/clickvisual/kafka.rs CONTROLLER_PORT"),
        ),
    ],
    health: &[],
    base_path: None,
    env: &[fact(
        Env {
            name: "KAFKA_*",
            effect: "every KAFKA_<NAME> becomes <name> in server.properties (so Service links must be off)",
        },
        unverified(KAFKA_WHY),
    )],
    min_kubernetes: NO_API,
    real_run: RealRun::None {
        why: "not packaged by Debian",
    },
    exceptions: &[PROBE_UID, PROBE_GID, PROBE_PATHS],
};

const ZK: &str = "31z4/zookeeper-docker";
const ZK_REV: &str = "52a83649bc332b3324e0f0ecd96a1c88b2793022";
const ZK_DF: &str = "3.9.4/Dockerfile";
const ZK_EP: &str = "3.9.4/docker-entrypoint.sh";
/// ZooKeeper itself, the release the image's `DISTRO_NAME` downloads.
const ZKS: &str = "apache/zookeeper";
const ZKS_TAG: &str = "release-3.9.4";

pub static ZOOKEEPER: ImageContract = ImageContract {
    image: "zookeeper",
    tag: "3.9",
    matched_by: Match::Image,
    about: &[
        fact(
            "zookeeper:3.9 is built from the 3.9.4 directory",
            unverified("the official-images library file mapping tags to directories was not read"),
        ),
        Fact {
            note: "no -XX:HeapDumpPath, and the working directory is the read-only /apache-zookeeper-3.9.4-bin under stackctl: the dump is not written, and the process is killed (-XX:OnOutOfMemoryError='kill -9 %p') as before",
            ..fact(
                "start-foreground runs java with -XX:+HeapDumpOnOutOfMemoryError",
                up(ZKS, ZKS_TAG, "bin/zkServer.sh"),
            )
        },
    ],
    uid: fact(Some(1000), up(ZK, ZK_REV, ZK_DF)),
    gid: fact(Some(1000), up(ZK, ZK_REV, ZK_DF)),
    writable_paths: &[
        Fact {
            note: "snapshots, myid (the entrypoint), the epoch files",
            ..fact("/data", up(ZK, ZK_REV, ZK_DF))
        },
        Fact {
            note: "ZOO_DATA_LOG_DIR, the transaction log (stackctl moves it to /data/datalog)",
            ..fact("/datalog", up(ZK, ZK_REV, ZK_DF))
        },
        Fact {
            note: "ZOO_LOG_DIR: zkServer.sh runs mkdir -p on it when it is not writable; the logback.xml of 3.9.4 logs to the console only (conf/logback.xml)",
            ..fact("/logs", up(ZKS, ZKS_TAG, "bin/zkServer.sh"))
        },
        Fact {
            note: "zoo.cfg is written there when absent; the directory also holds the image's logback.xml, which the server finds on the classpath (zkEnv.sh puts ZOOCFGDIR first)",
            ..fact("/conf", up(ZK, ZK_REV, ZK_EP))
        },
        fact(
            "/tmp",
            unverified(
                "the JVM's perf data (/tmp/hsperfdata_<user>) and attach files are HotSpot defaults; the JDK was not read, so /tmp is an emptyDir for what it may write",
            ),
        ),
    ],
    data_dir: fact(Some("/data"), up(ZK, ZK_REV, ZK_DF)),
    config_files: &[fact(
        ConfigFile {
            path: "/conf/zoo.cfg, generated from ZOO_* env when absent",
            format: "Java properties",
        },
        up(ZK, ZK_REV, ZK_EP),
    )],
    entrypoint: fact("/docker-entrypoint.sh", up(ZK, ZK_REV, ZK_DF)),
    command: fact("zkServer.sh start-foreground", up(ZK, ZK_REV, ZK_DF)),
    flags: &[],
    ports: &[
        fact(
            Port {
                number: 2181,
                what: "clients",
            },
            up(ZK, ZK_REV, ZK_DF),
        ),
        fact(
            Port {
                number: 2888,
                what: "followers",
            },
            up(ZK, ZK_REV, ZK_DF),
        ),
        fact(
            Port {
                number: 3888,
                what: "leader election",
            },
            up(ZK, ZK_REV, ZK_DF),
        ),
        fact(
            Port {
                number: 8080,
                what: "AdminServer (ZOO_ADMINSERVER_ENABLED)",
            },
            up(ZK, ZK_REV, ZK_DF),
        ),
    ],
    health: &[],
    base_path: None,
    env: &[
        fact(
            Env {
                name: "ZOO_MY_ID, ZOO_SERVERS",
                effect: "myid file and server.N lines of an ensemble",
            },
            up(ZK, ZK_REV, ZK_EP),
        ),
        fact(
            Env {
                name: "ZOO_4LW_COMMANDS_WHITELIST",
                effect: "4lw.commands.whitelist",
            },
            up(ZK, ZK_REV, ZK_EP),
        ),
        fact(
            Env {
                name: "ZOO_DATA_DIR, ZOO_DATA_LOG_DIR, ZOO_CFG_EXTRA, ZOO_ADMINSERVER_ENABLED",
                effect: "dataDir, dataLogDir, extra zoo.cfg lines, admin.enableServer",
            },
            up(ZK, ZK_REV, ZK_EP),
        ),
    ],
    min_kubernetes: NO_API,
    real_run: RealRun::None {
        why: "Debian packages ZooKeeper 3.8 (zookeeperd), but no test runs it yet; the probe's `srvr` parsing is tested against a canned answer (tests/probe_commands.rs)",
    },
    exceptions: &[
        PROBE_UID,
        PROBE_GID,
        PROBE_PATHS,
        Exception {
            container: "seed-conf",
            rule: Rule::WritablePaths,
            why: "copies the image's /conf into the emptyDir the server mounts there (cp only, no server): it writes that emptyDir and nothing else",
            known_defect: false,
        },
    ],
};

const FB: &str = "fluent/fluent-bit";
const FB_TAG: &str = "v4.0.3";
const FB_DF: &str = "dockerfiles/Dockerfile";

pub static FLUENT_BIT: ImageContract = ImageContract {
    image: "cr.fluentbit.io/fluent/fluent-bit",
    tag: "4.0.3",
    matched_by: Match::Image,
    about: &[],
    uid: Fact {
        note: "distroless cc-debian12, no USER line: root (reading /var/log needs it)",
        ..fact(Some(0), up(FB, FB_TAG, FB_DF))
    },
    gid: Fact {
        note: "no USER line: root",
        ..fact(Some(0), up(FB, FB_TAG, FB_DF))
    },
    writable_paths: &[Fact {
        note: "tail DB and offsets, where stackctl's configuration puts them",
        ..fact(
            "/var/fluent-bit/state",
            by_stackctl("src/stacks/clickvisual/fluentbit.rs"),
        )
    }],
    data_dir: fact(None, up(FB, FB_TAG, FB_DF)),
    config_files: &[fact(
        ConfigFile {
            path: "/fluent-bit/etc/fluent-bit.conf (stackctl: /fluent-bit/etc/conf/)",
            format: "Fluent Bit classic config",
        },
        up(FB, FB_TAG, FB_DF),
    )],
    entrypoint: fact("/fluent-bit/bin/fluent-bit", up(FB, FB_TAG, FB_DF)),
    command: fact(
        "/fluent-bit/bin/fluent-bit -c /fluent-bit/etc/fluent-bit.conf",
        up(FB, FB_TAG, FB_DF),
    ),
    flags: &[fact(
        "-c /fluent-bit/etc/conf/fluent-bit.conf",
        by_stackctl("src/stacks/clickvisual/fluentbit.rs"),
    )],
    ports: &[fact(
        Port {
            number: 2020,
            what: "HTTP server (HTTP_Server On)",
        },
        up(FB, FB_TAG, "include/fluent-bit/flb_config.h"),
    )],
    health: &[
        fact(
            Health {
                port: 2020,
                path: "/api/v1/health",
                what: "Health_Check On: error and retry counts within limits",
            },
            up(FB, FB_TAG, "src/http_server/api/v1/health.c"),
        ),
        fact(
            Health {
                port: 2020,
                path: "/",
                what: "build info",
            },
            up(FB, FB_TAG, "src/http_server/flb_hs.c"),
        ),
    ],
    base_path: None,
    env: &[fact(
        Env {
            name: "CLUSTER_NAME, KAFKA_BROKERS, NODE_IP",
            effect: "substituted as ${VAR} in stackctl's config; the image itself reads none",
        },
        by_stackctl("src/stacks/clickvisual/fluentbit.rs"),
    )],
    min_kubernetes: fact(
        None,
        unverified("the kubernetes filter's API needs were not read"),
    ),
    real_run: RealRun::None {
        why: "not packaged by Debian bookworm",
    },
    exceptions: &[],
};

pub static CONTRACTS: &[&ImageContract] = &[
    &CLICKVISUAL,
    &MYSQL_8_4,
    &CLICKHOUSE,
    &KAFKA,
    &ZOOKEEPER,
    &FLUENT_BIT,
];
