//! Images both stacks use (Redis, Prometheus) and the probes' HTTP client, plus the
//! exceptions every connectivity probe Job shares.

use super::{
    BasePath, ConfigFile, Env, Exception, Fact, Health, ImageContract, Match, Port, RealRun, Rule,
    by_stackctl, fact, unverified, up,
};

/// A connectivity probe (src/probe/job.rs) runs a client from the image, not the
/// server: as nobody, read-only root, `HOME=/tmp` on an emptyDir.
pub const PROBE_UID: Exception = Exception {
    container: "probe",
    rule: Rule::Uid,
    why: "probe Jobs run every image as nobody (65534) on purpose: only a client runs, which needs no file of the image's user",
    known_defect: false,
};
pub const PROBE_GID: Exception = Exception {
    rule: Rule::Gid,
    ..PROBE_UID
};
pub const PROBE_PATHS: Exception = Exception {
    container: "probe",
    rule: Rule::WritablePaths,
    why: "the probe runs a client, which writes only under HOME=/tmp (an emptyDir); the server's paths are not used",
    known_defect: false,
};

/// A backup or restore pod (`stacks::backup_jobs`) runs the image's client or a
/// shell, every step a container named `backup-…` (`restore-…` in a restore).
pub const BACKUP_PATHS: Exception = Exception {
    container: "backup-*",
    rule: Rule::WritablePaths,
    why: "a backup step runs the image's client (mysqldump, pg_dump, redis-cli) or a shell, writing only the backup volume and TMPDIR=/tmp (an emptyDir); the server's paths are not used",
    known_defect: false,
};
/// One pod holds every component's step, so its fsGroup (and group) is one:
/// 999, the database group of MySQL and PostgreSQL.
pub const BACKUP_GID: Exception = Exception {
    container: "backup-*",
    rule: Rule::Gid,
    why: "the backup pod runs every component's step under one group, 999 (MySQL's and PostgreSQL's); redis-cli runs as uid 999, the image's user, which owns every file it writes whatever the group",
    known_defect: false,
};

const NOTHING: Fact<Option<&str>> = fact(
    None,
    unverified("no Kubernetes API is used by the image; no minimum stated upstream"),
);

const REDIS_REV: &str = "e92049967d6baa9b4b3d6fd950553e6458e61f13";
const REDIS_WHY: &str = "read in 7.4-rc/alpine/ of docker-library/redis at e920499 (2024-06): the stored snapshot predates the 7.4 directory";

/// The server's source: where redis-server writes, from its config defaults.
const REDIS_SRC: &str = "redis/redis";
const REDIS_SRC_TAG: &str = "7.4.1";

pub static REDIS: ImageContract = ImageContract {
    image: "redis",
    tag: "7.4-alpine",
    matched_by: Match::Image,
    about: &[],
    uid: Fact {
        note: "adduser -S -G redis -u 999 redis",
        ..fact(Some(999), unverified(REDIS_WHY))
    },
    gid: Fact {
        note: "addgroup -S -g 1000 redis (the Debian variant uses 999)",
        ..fact(Some(1000), unverified(REDIS_WHY))
    },
    writable_paths: &[
        Fact {
            note: "--dir (stackctl passes /data): dump.rdb, appendonlydir and nodes.conf are relative to it; no pidfile unless set or daemonized (src/server.c), logfile \"\" is stdout, no unix socket by default (src/config.c); read at 7.4.1, the image's 7.4 is a later patch release",
            ..fact("/data", up(REDIS_SRC, REDIS_SRC_TAG, "src/config.c"))
        },
        Fact {
            note: "the start script's auth.conf (the config file: CONFIG REWRITE writes it back there)",
            ..fact("/tmp", by_stackctl("src/stacks/kit/redis.rs start_script"))
        },
    ],
    data_dir: fact(Some("/data"), unverified(REDIS_WHY)),
    config_files: &[fact(
        ConfigFile {
            path: "none: redis-server takes its settings as arguments",
            format: "redis.conf directives",
        },
        unverified(REDIS_WHY),
    )],
    entrypoint: fact("docker-entrypoint.sh", unverified(REDIS_WHY)),
    command: fact("redis-server", unverified(REDIS_WHY)),
    flags: &[fact(
        "--requirepass, --appendonly, --cluster-enabled (as arguments)",
        by_stackctl("src/stacks/kit/redis.rs"),
    )],
    ports: &[
        fact(
            Port {
                number: 6379,
                what: "clients",
            },
            up(
                "docker-library/redis",
                REDIS_REV,
                "7.4-rc/alpine/Dockerfile",
            ),
        ),
        fact(
            Port {
                number: 16379,
                what: "Redis Cluster bus (client port + 10000)",
            },
            by_stackctl("cluster mode, src/stacks/kit/redis.rs BUS_PORT"),
        ),
    ],
    health: &[],
    base_path: None,
    env: &[
        Fact {
            note: "the server's pod gets no password env var: the probes set it from the password file for redis-cli alone",
            ..fact(
                Env {
                    name: "REDISCLI_AUTH",
                    effect: "redis-cli's password (read by redis-cli, not the image); its only other ways are -a (an argument) and --askpass (a masked prompt): no file",
                },
                up(REDIS_SRC, REDIS_SRC_TAG, "src/redis-cli.c"),
            )
        },
        fact(
            Env {
                name: "REDIS_PASSWORD_FILE",
                effect: "the password file the start script turns into requirepass/masterauth in /tmp/auth.conf: the image reads no password from env or file, only redis.conf directives",
            },
            by_stackctl("src/stacks/kit/redis.rs start_script"),
        ),
    ],
    min_kubernetes: NOTHING,
    real_run: RealRun::Debian {
        package: "redis-server 7.0.15 (bookworm)",
        tests: "tests/redis_real.rs (the rendered start script: auth from the password file, maxmemory; the pod's readiness probe reading the password file; a 6-node cluster formed by the init Job and re-formed after every node restarts on new addresses), tests/probe_commands.rs (the probe)",
        unproven: "7.0 stands in for 7.4 (7.4's extra nodes.conf fields are not exercised); glibc and dash instead of the image's musl and busybox; Kubernetes DNS timing",
    },
    exceptions: &[
        BACKUP_PATHS,
        BACKUP_GID,
        Exception {
            container: "create",
            rule: Rule::Uid,
            why: "the Redis Cluster init Job runs as nobody (65534) on purpose, as the probe does: only redis-cli runs, which needs no file of the image's user (its name hashes the pod template, so an upgrade runs a new Job, which finds the cluster formed)",
            known_defect: false,
        },
        Exception {
            container: "create",
            rule: Rule::Gid,
            why: "nobody's group (65534), see uid",
            known_defect: false,
        },
        Exception {
            container: "create",
            rule: Rule::WritablePaths,
            why: "the Redis Cluster init Job runs redis-cli only, which writes nothing but under HOME=/tmp (an emptyDir); the server's /data is not used",
            known_defect: false,
        },
        PROBE_UID,
        PROBE_GID,
        PROBE_PATHS,
    ],
};

const PROM: &str = "prometheus/prometheus";
const PROM_TAG: &str = "v3.4.1";

pub static PROMETHEUS: ImageContract = ImageContract {
    image: "prom/prometheus",
    tag: PROM_TAG,
    matched_by: Match::Image,
    about: &[],
    uid: Fact {
        note: "USER nobody; 65534 in quay.io/prometheus/busybox's passwd (not read here)",
        ..fact(Some(65534), up(PROM, PROM_TAG, "Dockerfile"))
    },
    gid: Fact {
        note: "chown nobody:nobody; 65534 as for the uid",
        ..fact(Some(65534), up(PROM, PROM_TAG, "Dockerfile"))
    },
    writable_paths: &[fact("/prometheus", up(PROM, PROM_TAG, "Dockerfile"))],
    data_dir: fact(Some("/prometheus"), up(PROM, PROM_TAG, "Dockerfile")),
    config_files: &[fact(
        ConfigFile {
            path: "/etc/prometheus/prometheus.yml",
            format: "YAML",
        },
        up(PROM, PROM_TAG, "Dockerfile"),
    )],
    entrypoint: fact("/bin/prometheus", up(PROM, PROM_TAG, "Dockerfile")),
    command: fact(
        "--config.file=/etc/prometheus/prometheus.yml --storage.tsdb.path=/prometheus",
        up(PROM, PROM_TAG, "Dockerfile"),
    ),
    flags: &[fact(
        "--web.external-url, --web.route-prefix (sub-path), --storage.tsdb.retention.time, --web.enable-lifecycle",
        by_stackctl("src/stacks/kit/prometheus.rs"),
    )],
    ports: &[fact(
        Port {
            number: 9090,
            what: "web, API",
        },
        up(PROM, PROM_TAG, "Dockerfile"),
    )],
    health: &[
        fact(
            Health {
                port: 9090,
                path: "/-/ready",
                what: "ready to serve",
            },
            up(PROM, PROM_TAG, "web/web.go"),
        ),
        fact(
            Health {
                port: 9090,
                path: "/-/healthy",
                what: "process up",
            },
            up(PROM, PROM_TAG, "web/web.go"),
        ),
    ],
    base_path: Some(fact(
        BasePath::Flag("--web.route-prefix="),
        unverified(
            "route-prefix moves every route, /-/ready included (Prometheus docs); not traced in web/web.go",
        ),
    )),
    env: &[],
    min_kubernetes: NOTHING,
    real_run: RealRun::Debian {
        package: "prometheus 2.42 (bookworm)",
        tests: "tests/promtool.rs: `promtool check rules`, `promtool test rules` (PodNotReady, HighResponseTime, HighErrorRate), `promtool check config`",
        unproven: "2.42 stands in for 3.4.1; Debian's build has no Kubernetes discovery, so the kubernetes_sd_configs blocks are replaced before the check and only unit-tested",
    },
    exceptions: &[],
};

const CURL: &str = "curl/curl-container";

/// `curlimages/curl`: the probes' and setup Jobs' HTTP client.
const fn curl(tag: &'static str, env: &'static [Fact<Env>]) -> ImageContract {
    ImageContract {
        image: "curlimages/curl",
        tag,
        matched_by: Match::Image,
        about: &[],
        uid: Fact {
            note: "adduser -S curl_user: Alpine picks the next free system uid; the script fixes none",
            ..fact(None, up(CURL, tag, "create_base_image.sh"))
        },
        gid: Fact {
            note: "addgroup -S curl_group: no fixed gid",
            ..fact(None, up(CURL, tag, "create_base_image.sh"))
        },
        writable_paths: &[],
        data_dir: fact(None, up(CURL, tag, "create_base_image.sh")),
        config_files: &[],
        entrypoint: fact("/entrypoint.sh", up(CURL, tag, "create_base_image.sh")),
        command: fact("curl", up(CURL, tag, "create_base_image.sh")),
        flags: &[],
        ports: &[],
        health: &[],
        base_path: None,
        env,
        min_kubernetes: NOTHING,
        real_run: RealRun::Debian {
            package: "curl 7.88 (bookworm)",
            tests: "tests/probe_commands.rs runs the HTTP probe scripts with curl",
            unproven: "curl 7.88 and dash stand in for the image's curl 8 and busybox sh",
        },
        exceptions: &[PROBE_UID, PROBE_GID, PROBE_PATHS],
    }
}

const fn ca_bundle(tag: &'static str) -> Fact<Env> {
    fact(
        Env {
            name: "CURL_CA_BUNDLE",
            effect: "set to /cacert.pem by the image",
        },
        up(CURL, tag, "create_base_image.sh"),
    )
}

pub static CURL_8_11_1: ImageContract = curl("8.11.1", &[ca_bundle("8.11.1")]);
pub static CURL_8_14_1: ImageContract = curl("8.14.1", &[ca_bundle("8.14.1")]);

pub static CONTRACTS: &[&ImageContract] = &[&REDIS, &PROMETHEUS, &CURL_8_11_1, &CURL_8_14_1];
