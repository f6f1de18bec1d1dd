//! The AIOps stack's own images (Redis and Prometheus are in `shared`).

use super::shared::{BACKUP_PATHS, PROBE_GID, PROBE_PATHS, PROBE_UID};
use super::{
    BasePath, ConfigFile, Env, Exception, Fact, Health, ImageContract, Match, Port, RealRun, Rule,
    by_stackctl, fact, unverified, up,
};

const NO_API: Fact<Option<&str>> = fact(
    None,
    unverified("the image uses no Kubernetes API; no minimum stated upstream"),
);

const fn port(number: i32, what: &'static str) -> Port {
    Port { number, what }
}

const fn health(port: i32, path: &'static str, what: &'static str) -> Health {
    Health { port, path, what }
}

const TRAEFIK_IMG: &str = "traefik/traefik-library-image";
const TRAEFIK: &str = "traefik/traefik";
const TRAEFIK_TAG: &str = "v3.4.1";
const TRAEFIK_DF: &str = "v3.4/alpine/Dockerfile";

pub static TRAEFIK_3_4_1: ImageContract = ImageContract {
    image: "traefik",
    tag: "v3.4.1",
    matched_by: Match::Image,
    about: &[],
    uid: Fact {
        note: "alpine, no USER line: root",
        ..fact(Some(0), up(TRAEFIK_IMG, TRAEFIK_TAG, TRAEFIK_DF))
    },
    gid: fact(Some(0), up(TRAEFIK_IMG, TRAEFIK_TAG, TRAEFIK_DF)),
    writable_paths: &[],
    data_dir: fact(None, up(TRAEFIK_IMG, TRAEFIK_TAG, TRAEFIK_DF)),
    config_files: &[fact(
        ConfigFile {
            path: "none: static configuration from flags",
            format: "CLI flags",
        },
        by_stackctl("src/stacks/aiops/traefik.rs"),
    )],
    entrypoint: fact("/entrypoint.sh", up(TRAEFIK_IMG, TRAEFIK_TAG, TRAEFIK_DF)),
    command: fact("traefik", up(TRAEFIK_IMG, TRAEFIK_TAG, TRAEFIK_DF)),
    flags: &[fact(
        "--entrypoints.web.address=:8000, --entrypoints.websecure.address=:8443, --ping, --providers.kubernetesingress",
        by_stackctl("src/stacks/aiops/traefik.rs"),
    )],
    ports: &[
        fact(
            port(8000, "web entrypoint"),
            by_stackctl("--entrypoints.web.address"),
        ),
        fact(
            port(8443, "websecure entrypoint"),
            by_stackctl("--entrypoints.websecure.address"),
        ),
        fact(
            port(8080, "traefik entrypoint: API, ping"),
            up(TRAEFIK, TRAEFIK_TAG, "pkg/config/static/static_config.go"),
        ),
    ],
    health: &[fact(
        health(8080, "/ping", "--ping on the traefik entrypoint"),
        up(TRAEFIK, TRAEFIK_TAG, "pkg/provider/traefik/internal.go"),
    )],
    base_path: None,
    env: &[],
    min_kubernetes: Fact {
        note: "from v3.1 the Kubernetes providers discover endpoints through discovery.k8s.io/v1 EndpointSlices; v3.0.4 still reads v1 Endpoints",
        ..fact(
            Some("1.21"),
            up("traefik/traefik", "v3.4.1", "docs/content/migration/v3.md"),
        )
    },
    real_run: RealRun::None {
        why: "not packaged by Debian",
    },
    exceptions: &[
        Exception {
            container: "traefik",
            rule: Rule::Uid,
            why: "runs as 65532, not the image's root: Traefik needs no root for ports above 1024 and writes nothing (the upstream Helm chart does the same)",
            known_defect: false,
        },
        Exception {
            container: "traefik",
            rule: Rule::Gid,
            why: "group 65532 with the uid above",
            known_defect: false,
        },
    ],
};

const fn busybox_nobody(repo: &'static str, tag: &'static str) -> Fact<Option<i64>> {
    Fact {
        note: "USER nobody; 65534 in the base image's passwd (not read here)",
        ..fact(Some(65534), up(repo, tag, "Dockerfile"))
    }
}

const NE: &str = "prometheus/node_exporter";
const NE_TAG: &str = "v1.9.1";

pub static NODE_EXPORTER: ImageContract = ImageContract {
    image: "quay.io/prometheus/node-exporter",
    tag: "v1.9.1",
    matched_by: Match::Image,
    about: &[],
    uid: busybox_nobody(NE, NE_TAG),
    gid: busybox_nobody(NE, NE_TAG),
    writable_paths: &[],
    data_dir: fact(None, up(NE, NE_TAG, "Dockerfile")),
    config_files: &[],
    entrypoint: fact("/bin/node_exporter", up(NE, NE_TAG, "Dockerfile")),
    command: fact("none", up(NE, NE_TAG, "Dockerfile")),
    flags: &[fact(
        "--path.procfs=/host/proc --path.sysfs=/host/sys --path.rootfs=/host/root",
        by_stackctl("src/stacks/aiops/exporters.rs"),
    )],
    ports: &[fact(port(9100, "metrics"), up(NE, NE_TAG, "Dockerfile"))],
    health: &[
        fact(
            health(9100, "/", "landing page"),
            up(NE, NE_TAG, "node_exporter.go"),
        ),
        fact(
            health(9100, "/metrics", "metrics"),
            up(NE, NE_TAG, "node_exporter.go"),
        ),
    ],
    base_path: None,
    env: &[],
    min_kubernetes: NO_API,
    real_run: RealRun::None {
        why: "Debian packages node-exporter 1.5 (prometheus-node-exporter), but no test runs it: its flags are read from upstream",
    },
    exceptions: &[],
};

const KSM: &str = "kubernetes/kube-state-metrics";
const KSM_TAG: &str = "v2.15.0";

pub static KUBE_STATE_METRICS: ImageContract = ImageContract {
    image: "registry.k8s.io/kube-state-metrics/kube-state-metrics",
    tag: "v2.15.0",
    matched_by: Match::Image,
    about: &[],
    uid: Fact {
        note: "USER nobody on distroless static: 65534",
        ..fact(Some(65534), up(KSM, KSM_TAG, "Dockerfile"))
    },
    gid: Fact {
        note: "distroless nobody's group: 65534",
        ..fact(Some(65534), up(KSM, KSM_TAG, "Dockerfile"))
    },
    writable_paths: &[],
    data_dir: fact(None, up(KSM, KSM_TAG, "Dockerfile")),
    config_files: &[],
    entrypoint: fact(
        "/kube-state-metrics --port=8080 --telemetry-port=8081",
        up(KSM, KSM_TAG, "Dockerfile"),
    ),
    command: fact("none", up(KSM, KSM_TAG, "Dockerfile")),
    flags: &[],
    ports: &[
        fact(port(8080, "metrics"), up(KSM, KSM_TAG, "Dockerfile")),
        fact(port(8081, "telemetry"), up(KSM, KSM_TAG, "Dockerfile")),
    ],
    health: &[
        fact(
            health(8080, "/livez", "API server reachable"),
            up(KSM, KSM_TAG, "pkg/app/server.go"),
        ),
        fact(
            health(8080, "/healthz", "process up"),
            up(KSM, KSM_TAG, "pkg/app/server.go"),
        ),
        fact(
            health(8081, "/readyz", "metrics gathered"),
            up(KSM, KSM_TAG, "pkg/app/server.go"),
        ),
    ],
    base_path: None,
    env: &[],
    min_kubernetes: Fact {
        note: "built with client-go v1.32; the compatibility matrix names no minimum",
        ..fact(None, up(KSM, KSM_TAG, "README.md"))
    },
    real_run: RealRun::None {
        why: "not packaged by Debian",
    },
    exceptions: &[],
};

const AM: &str = "prometheus/alertmanager";
const AM_TAG: &str = "v0.28.1";

pub static ALERTMANAGER: ImageContract = ImageContract {
    image: "prom/alertmanager",
    tag: "v0.28.1",
    matched_by: Match::Image,
    about: &[],
    uid: busybox_nobody(AM, AM_TAG),
    gid: busybox_nobody(AM, AM_TAG),
    writable_paths: &[fact("/alertmanager", up(AM, AM_TAG, "Dockerfile"))],
    data_dir: fact(Some("/alertmanager"), up(AM, AM_TAG, "Dockerfile")),
    config_files: &[fact(
        ConfigFile {
            path: "/etc/alertmanager/alertmanager.yml",
            format: "YAML",
        },
        up(AM, AM_TAG, "Dockerfile"),
    )],
    entrypoint: fact("/bin/alertmanager", up(AM, AM_TAG, "Dockerfile")),
    command: fact(
        "--config.file=/etc/alertmanager/alertmanager.yml --storage.path=/alertmanager",
        up(AM, AM_TAG, "Dockerfile"),
    ),
    flags: &[fact(
        "--web.external-url, --web.route-prefix, --cluster.listen-address, --cluster.peer",
        by_stackctl("src/stacks/aiops/alertmanager.rs"),
    )],
    ports: &[
        fact(port(9093, "web, API"), up(AM, AM_TAG, "Dockerfile")),
        fact(
            port(9094, "cluster gossip"),
            by_stackctl("src/stacks/aiops/alertmanager.rs CLUSTER_PORT"),
        ),
    ],
    health: &[
        fact(
            health(9093, "/-/ready", "ready"),
            up(AM, AM_TAG, "ui/web.go"),
        ),
        fact(
            health(9093, "/-/healthy", "process up"),
            up(AM, AM_TAG, "ui/web.go"),
        ),
    ],
    base_path: Some(fact(
        BasePath::Flag("--web.route-prefix="),
        unverified("route-prefix moves every route (Alertmanager docs); not traced in ui/web.go"),
    )),
    env: &[],
    min_kubernetes: NO_API,
    real_run: RealRun::Debian {
        package: "prometheus-alertmanager 0.25 (bookworm)",
        tests: "tests/promtool.rs: `amtool check-config` on every AIOps profile's configuration, every receiver on",
        unproven: "0.25 stands in for 0.28.1: keys added since would be rejected, not accepted; routing is not exercised",
    },
    exceptions: &[],
};

const GRAFANA_WHY: &str = "grafana/grafana is too large to fetch here and the stored index holds only an old fork of its Dockerfile; from Grafana's Docker documentation";

pub static GRAFANA: ImageContract = ImageContract {
    image: "grafana/grafana",
    tag: "12.0.2",
    matched_by: Match::Image,
    about: &[],
    uid: fact(Some(472), unverified(GRAFANA_WHY)),
    gid: Fact {
        note: "older images used gid 0; a different gid only matters for fsGroup",
        ..fact(Some(472), unverified(GRAFANA_WHY))
    },
    writable_paths: &[
        fact("/var/lib/grafana", unverified(GRAFANA_WHY)),
        fact("/var/log/grafana", unverified(GRAFANA_WHY)),
    ],
    data_dir: fact(Some("/var/lib/grafana"), unverified(GRAFANA_WHY)),
    config_files: &[
        fact(
            ConfigFile {
                path: "/etc/grafana/grafana.ini",
                format: "INI (GF_<SECTION>_<KEY> env overrides)",
            },
            unverified(GRAFANA_WHY),
        ),
        fact(
            ConfigFile {
                path: "/etc/grafana/provisioning/",
                format: "YAML",
            },
            unverified(GRAFANA_WHY),
        ),
    ],
    entrypoint: fact("/run.sh", unverified(GRAFANA_WHY)),
    command: fact("none", unverified(GRAFANA_WHY)),
    flags: &[],
    ports: &[fact(port(3000, "HTTP"), unverified(GRAFANA_WHY))],
    health: &[fact(
        health(3000, "/api/health", "database reachable"),
        unverified(GRAFANA_WHY),
    )],
    base_path: Some(fact(
        BasePath::EnvUrl {
            url: "GF_SERVER_ROOT_URL",
            enabled_by: "GF_SERVER_SERVE_FROM_SUB_PATH",
        },
        unverified(GRAFANA_WHY),
    )),
    env: &[
        fact(
            Env {
                name: "GF_<SECTION>_<KEY>",
                effect: "overrides grafana.ini (GF_SECURITY_ADMIN_*, GF_SERVER_ROOT_URL, GF_LOG_MODE, ...)",
            },
            unverified(GRAFANA_WHY),
        ),
        Fact {
            note: "stackctl sets GF_SECURITY_ADMIN_USER__FILE and GF_SECURITY_ADMIN_PASSWORD__FILE, files of the credentials Secret",
            ..fact(
                Env {
                    name: "GF_<SECTION>_<KEY>__FILE",
                    effect: "run.sh exports GF_<SECTION>_<KEY> as the named file's content (exclusive with the variable itself) before starting the server",
                },
                unverified(
                    "read in packaging/docker/run.sh of grafana/grafana at 07754534fbafa7e7e18e7272e552c166f1afae28 (a stored revision, not the v12.0.2 tag: the repository is too large to fetch here); Grafana's Docker documentation describes it since 5.x",
                ),
            )
        },
        fact(
            Env {
                name: "ELASTICSEARCH_PASSWORD",
                effect: "read by stackctl's datasource provisioning file, not the image",
            },
            by_stackctl("src/stacks/aiops/grafana.rs"),
        ),
        fact(
            Env {
                name: "$__file{<path>} in provisioning files",
                effect: "expanded to the file's content (trimmed), which is then expanded as env references ($VAR) too: not used, a password may hold `$`",
            },
            unverified(
                "read in pkg/services/provisioning/values/values.go (interpolateValue: setting.ExpandVar, then os.ExpandEnv) of grafana/grafana at 03d9862a11fa9db1790da9ae5bc3577700e7fe61, a stored revision, not the v12.0.2 tag",
            ),
        ),
    ],
    min_kubernetes: NO_API,
    real_run: RealRun::None {
        why: "not packaged by Debian",
    },
    // A scheduled backup copies Grafana's database in its image (sh, curl, tar,
    // gzip), not running Grafana.
    exceptions: &[
        BACKUP_PATHS,
        Exception {
            container: "backup-*",
            rule: Rule::Uid,
            why: "the step runs a shell, curl and tar as the backup user, 999, not Grafana: the backup volume's files stay that user's; it reads Grafana's files on a read-only mount through Grafana's group, 472, joined by supplementalGroups",
            known_defect: false,
        },
        Exception {
            container: "backup-*",
            rule: Rule::Gid,
            why: "the backup pod's one group, 999 (see the shared backup exception), with Grafana's 472 as a supplemental group",
            known_defect: false,
        },
    ],
};

/// elastic/dockerfiles at "Contexts for 8.19.2": the build contexts of the 8.19.2
/// images, one commit for Elasticsearch, Kibana and Logstash.
const ELASTIC: &str = "elastic/dockerfiles";
const ELASTIC_REV: &str = "2ed23b0bc3f4c094097cc7ec75bcd359abd0018f";
const ES_DF: &str = "elasticsearch/Dockerfile";

pub static ELASTICSEARCH: ImageContract = ImageContract {
    image: "docker.elastic.co/elasticsearch/elasticsearch",
    tag: "8.19.2",
    matched_by: Match::Image,
    about: &[],
    uid: fact(Some(1000), up(ELASTIC, ELASTIC_REV, ES_DF)),
    gid: Fact {
        note: "USER 1000:0; the elasticsearch group is 1000",
        ..fact(Some(0), up(ELASTIC, ELASTIC_REV, ES_DF))
    },
    writable_paths: &[
        fact(
            "/usr/share/elasticsearch/data",
            up(ELASTIC, ELASTIC_REV, ES_DF),
        ),
        fact(
            "/usr/share/elasticsearch/logs",
            up(ELASTIC, ELASTIC_REV, ES_DF),
        ),
        Fact {
            note: "the keystore",
            ..fact(
                "/usr/share/elasticsearch/config",
                up(ELASTIC, ELASTIC_REV, ES_DF),
            )
        },
    ],
    data_dir: fact(
        Some("/usr/share/elasticsearch/data"),
        up(ELASTIC, ELASTIC_REV, ES_DF),
    ),
    config_files: &[fact(
        ConfigFile {
            path: "/usr/share/elasticsearch/config/elasticsearch.yml",
            format: "YAML",
        },
        up(
            ELASTIC,
            ELASTIC_REV,
            "elasticsearch/config/elasticsearch.yml",
        ),
    )],
    entrypoint: fact(
        "/bin/tini -- /usr/local/bin/docker-entrypoint.sh",
        up(ELASTIC, ELASTIC_REV, ES_DF),
    ),
    command: fact("eswrapper", up(ELASTIC, ELASTIC_REV, ES_DF)),
    flags: &[],
    ports: &[
        fact(port(9200, "HTTP"), up(ELASTIC, ELASTIC_REV, ES_DF)),
        fact(port(9300, "transport"), up(ELASTIC, ELASTIC_REV, ES_DF)),
    ],
    health: &[fact(
        health(
            9200,
            "/_cluster/health",
            "cluster status (needs credentials)",
        ),
        unverified("Elasticsearch REST API; elastic/elasticsearch is too large to fetch here"),
    )],
    base_path: None,
    env: &[
        fact(
            Env {
                name: "ES_JAVA_OPTS",
                effect: "JVM options (heap)",
            },
            unverified(
                "read by the distribution's launcher in elastic/elasticsearch, not read here",
            ),
        ),
        fact(
            Env {
                name: "ELASTIC_PASSWORD (or <VAR>_FILE)",
                effect: "the entrypoint sets it as the elastic user's bootstrap password; it first sources bin/elasticsearch-env-from-file, which sets <VAR> from the file <VAR>_FILE names",
            },
            up(
                ELASTIC,
                ELASTIC_REV,
                "elasticsearch/bin/docker-entrypoint.sh",
            ),
        ),
        Fact {
            note: "so stackctl's init container copies the Secret's file into a memory emptyDir as the elasticsearch user, mode 0600, and ELASTIC_PASSWORD_FILE names the copy: a Secret volume's files are 0440 under the pod's fsGroup",
            ..fact(
                Env {
                    name: "ELASTIC_PASSWORD_FILE, KEYSTORE_PASSWORD_FILE (only these)",
                    effect: "the file must exist and have mode 400 or 600, else the container exits; exclusive with the variable itself",
                },
                unverified(
                    "read in distribution/src/bin/elasticsearch-env-from-file of elastic/elasticsearch at 250da3e3e6e12e88aac8afb83a4bafd857069fc0 (a stored revision, not the v8.19.2 tag: the repository is too large to fetch here); the pinned docker-entrypoint.sh sources it",
                ),
            )
        },
    ],
    min_kubernetes: NO_API,
    real_run: RealRun::None {
        why: "not packaged by Debian",
    },
    exceptions: &[
        Exception {
            container: "sysctl",
            rule: Rule::Uid,
            why: "the init container sets vm.max_map_count: privileged root by design",
            known_defect: false,
        },
        Exception {
            container: "elasticsearch",
            rule: Rule::Gid,
            why: "runs with group 1000 (fsGroup for the data volume) instead of the image's 0: uid 1000 owns data, logs and config (chown elasticsearch in the Dockerfile), so gid 0 is not needed",
            known_defect: false,
        },
        Exception {
            container: "transport-certificate",
            rule: Rule::Gid,
            why: "the init container writing the node's transport certificate runs as the main container does (group 1000), see elasticsearch",
            known_defect: false,
        },
        Exception {
            container: "sysctl",
            rule: Rule::Gid,
            why: "privileged init container, see its uid",
            known_defect: false,
        },
        Exception {
            container: "elastic-password",
            rule: Rule::WritablePaths,
            why: "the init container copying the password file runs `cat` only, writing the copy to its memory emptyDir: Elasticsearch does not run in it",
            known_defect: false,
        },
        Exception {
            container: "elastic-password",
            rule: Rule::Gid,
            why: "runs as the main container does (group 1000), see elasticsearch: the copy must be the elasticsearch user's",
            known_defect: false,
        },
    ],
};

const KB_DF: &str = "kibana/Dockerfile";

pub static KIBANA: ImageContract = ImageContract {
    image: "docker.elastic.co/kibana/kibana",
    tag: "8.19.2",
    matched_by: Match::Image,
    about: &[],
    uid: fact(Some(1000), up(ELASTIC, ELASTIC_REV, KB_DF)),
    gid: Fact {
        note: "USER 1000; useradd --gid 1000 -G 0",
        ..fact(Some(1000), up(ELASTIC, ELASTIC_REV, KB_DF))
    },
    writable_paths: &[fact(
        "/usr/share/kibana/data",
        up(ELASTIC, ELASTIC_REV, KB_DF),
    )],
    data_dir: fact(
        Some("/usr/share/kibana/data"),
        up(ELASTIC, ELASTIC_REV, KB_DF),
    ),
    config_files: &[fact(
        ConfigFile {
            path: "/usr/share/kibana/config/kibana.yml",
            format: "YAML",
        },
        up(ELASTIC, ELASTIC_REV, "kibana/config/kibana.yml"),
    )],
    entrypoint: fact("/bin/tini --", up(ELASTIC, ELASTIC_REV, KB_DF)),
    command: fact(
        "/usr/local/bin/kibana-docker",
        up(ELASTIC, ELASTIC_REV, KB_DF),
    ),
    flags: &[],
    ports: &[fact(port(5601, "HTTP"), up(ELASTIC, ELASTIC_REV, KB_DF))],
    health: &[fact(
        health(
            5601,
            "/api/status",
            "status (anonymous with status.allowAnonymous)",
        ),
        unverified("Kibana API; elastic/kibana is too large to fetch here"),
    )],
    base_path: Some(fact(
        BasePath::ConfigKey {
            file: "kibana.yml",
            key: "server.basePath",
            enabled_by: "server.rewriteBasePath",
        },
        unverified("Kibana settings reference; elastic/kibana is too large to fetch here"),
    )),
    env: &[fact(
        Env {
            name: "ELASTICSEARCH_USERNAME, ELASTICSEARCH_PASSWORD, ...",
            effect: "kibana-docker turns known setting names in env into --settings",
        },
        up(ELASTIC, ELASTIC_REV, "kibana/bin/kibana-docker"),
    )],
    min_kubernetes: NO_API,
    real_run: RealRun::None {
        why: "not packaged by Debian",
    },
    exceptions: &[
        Exception {
            container: "kibana",
            rule: Rule::Uid,
            why: "stackctl runs it as 10001 in group 0, which the image is built for: group 0 has the owner's rights on every file of the image's home (elastic/dockerfiles kibana/Dockerfile: chmod -R g=u), so a uid above 10000 shares no files with the node's users",
            known_defect: false,
        },
        Exception {
            container: "kibana",
            rule: Rule::Gid,
            why: "group 0: the group the image gives the owner's rights (see uid)",
            known_defect: false,
        },
    ],
};

const LS_DF: &str = "logstash/Dockerfile";
const LS: &str = "elastic/logstash";

pub static LOGSTASH: ImageContract = ImageContract {
    image: "docker.elastic.co/logstash/logstash",
    tag: "8.19.2",
    matched_by: Match::Image,
    about: &[],
    uid: fact(Some(1000), up(ELASTIC, ELASTIC_REV, LS_DF)),
    gid: fact(Some(1000), up(ELASTIC, ELASTIC_REV, LS_DF)),
    writable_paths: &[fact(
        "/usr/share/logstash/data",
        up(LS, "v8.19.2", "logstash-core/lib/logstash/environment.rb"),
    )],
    data_dir: fact(
        Some("/usr/share/logstash/data"),
        up(LS, "v8.19.2", "logstash-core/lib/logstash/environment.rb"),
    ),
    config_files: &[
        fact(
            ConfigFile {
                path: "/usr/share/logstash/config/logstash.yml",
                format: "YAML",
            },
            up(ELASTIC, ELASTIC_REV, "logstash/config/logstash-full.yml"),
        ),
        fact(
            ConfigFile {
                path: "/usr/share/logstash/pipeline/*.conf",
                format: "Logstash pipeline",
            },
            up(ELASTIC, ELASTIC_REV, "logstash/pipeline/default.conf"),
        ),
    ],
    entrypoint: fact(
        "/usr/local/bin/docker-entrypoint",
        up(ELASTIC, ELASTIC_REV, LS_DF),
    ),
    command: fact("none", up(ELASTIC, ELASTIC_REV, LS_DF)),
    flags: &[],
    ports: &[
        fact(port(9600, "API"), up(ELASTIC, ELASTIC_REV, LS_DF)),
        fact(port(5044, "Beats input"), up(ELASTIC, ELASTIC_REV, LS_DF)),
        fact(
            port(8080, "HTTP input"),
            by_stackctl("src/stacks/aiops/logstash.rs HTTP_INPUT_PORT"),
        ),
    ],
    health: &[fact(
        health(9600, "/", "node info"),
        up(
            LS,
            "v8.19.2",
            "logstash-core/lib/logstash/api/modules/root.rb",
        ),
    )],
    base_path: None,
    env: &[fact(
        Env {
            name: "LS_JAVA_OPTS",
            effect: "JVM options (heap)",
        },
        unverified("read by Logstash's launcher scripts, not read here"),
    )],
    min_kubernetes: NO_API,
    real_run: RealRun::None {
        why: "not packaged by Debian",
    },
    exceptions: &[
        Exception {
            container: "logstash",
            rule: Rule::Uid,
            why: "stackctl runs it as 10001 in group 0, which the image is built for: group 0 has the owner's rights on every file of the image's home (elastic/dockerfiles logstash/Dockerfile: chmod -R g=u), so a uid above 10000 shares no files with the node's users",
            known_defect: false,
        },
        Exception {
            container: "logstash",
            rule: Rule::Gid,
            why: "group 0: the group the image gives the owner's rights (see uid)",
            known_defect: false,
        },
    ],
};

const PG: &str = "docker-library/postgres";
const PG_REV: &str = "6edb0a8c4def40c371514b34aef9037ec82d9110";
const PG_DF: &str = "17/trixie/Dockerfile";
const PG_EP: &str = "17/trixie/docker-entrypoint.sh";

pub static POSTGRES: ImageContract = ImageContract {
    image: "postgres",
    tag: "17",
    matched_by: Match::Image,
    about: &[Fact {
        note: "versions.json: 17 → trixie, the variant the bare tag points to",
        ..fact(
            "postgres:17 is the 17/trixie image",
            up(PG, PG_REV, "versions.json"),
        )
    }],
    uid: fact(Some(999), up(PG, PG_REV, PG_DF)),
    gid: fact(Some(999), up(PG, PG_REV, PG_DF)),
    writable_paths: &[
        fact("/var/lib/postgresql/data", up(PG, PG_REV, PG_DF)),
        fact("/var/run/postgresql", up(PG, PG_REV, PG_DF)),
        Fact {
            note: "mktemp for nss_wrapper's passwd and group files, only when the uid has no passwd entry (999 has one)",
            ..fact("/tmp", up(PG, PG_REV, "17/trixie/docker-entrypoint.sh"))
        },
    ],
    data_dir: fact(Some("/var/lib/postgresql/data"), up(PG, PG_REV, PG_DF)),
    config_files: &[fact(
        ConfigFile {
            path: "$PGDATA/postgresql.conf, pg_hba.conf (written by initdb); /docker-entrypoint-initdb.d/",
            format: "PostgreSQL conf; SQL, shell",
        },
        up(PG, PG_REV, PG_EP),
    )],
    entrypoint: fact("docker-entrypoint.sh", up(PG, PG_REV, PG_DF)),
    command: fact("postgres", up(PG, PG_REV, PG_DF)),
    flags: &[],
    ports: &[fact(port(5432, "PostgreSQL"), up(PG, PG_REV, PG_DF))],
    health: &[],
    base_path: None,
    env: &[
        fact(
            Env {
                name: "POSTGRES_PASSWORD, POSTGRES_USER, POSTGRES_DB",
                effect: "superuser and database on first initialisation",
            },
            up(PG, PG_REV, PG_EP),
        ),
        Fact {
            note: "stackctl sets POSTGRES_PASSWORD_FILE, a file of the credentials Secret",
            ..fact(
                Env {
                    name: "<VAR>_FILE for POSTGRES_PASSWORD, POSTGRES_USER, POSTGRES_DB, POSTGRES_INITDB_ARGS",
                    effect: "`file_env` in `docker_setup_env`: the variable's value from the named file, exclusive with the variable itself; the password is used only when `initdb` runs on an empty PGDATA (no PG_VERSION)",
                },
                up(PG, PG_REV, PG_EP),
            )
        },
        fact(
            Env {
                name: "PGDATA",
                effect: "data directory (default /var/lib/postgresql/data)",
            },
            up(PG, PG_REV, PG_DF),
        ),
    ],
    min_kubernetes: NO_API,
    real_run: RealRun::Debian {
        package: "postgresql 15 (bookworm)",
        tests: "tests/postgres_real.rs (the init script, sourced as the entrypoint does, and the pod's readiness probe, both reading password files), tests/rotation_scripts.rs (password rotation)",
        unproven: "15 stands in for 17; the image's entrypoint and its first-start initdb are not run",
    },
    exceptions: &[PROBE_UID, PROBE_GID, PROBE_PATHS, BACKUP_PATHS],
};

const PGX: &str = "prometheus-community/postgres_exporter";
const PGX_TAG: &str = "v0.17.1";

pub static POSTGRES_EXPORTER: ImageContract = ImageContract {
    image: "quay.io/prometheuscommunity/postgres-exporter",
    tag: "v0.17.1",
    matched_by: Match::Image,
    about: &[],
    uid: busybox_nobody(PGX, PGX_TAG),
    gid: busybox_nobody(PGX, PGX_TAG),
    writable_paths: &[],
    data_dir: fact(None, up(PGX, PGX_TAG, "Dockerfile")),
    config_files: &[],
    entrypoint: fact("/bin/postgres_exporter", up(PGX, PGX_TAG, "Dockerfile")),
    command: fact("none", up(PGX, PGX_TAG, "Dockerfile")),
    flags: &[],
    ports: &[fact(port(9187, "metrics"), up(PGX, PGX_TAG, "Dockerfile"))],
    health: &[fact(
        health(9187, "/metrics", "metrics"),
        up(PGX, PGX_TAG, "cmd/postgres_exporter/main.go"),
    )],
    base_path: None,
    env: &[fact(
        Env {
            name: "DATA_SOURCE_URI, DATA_SOURCE_USER, DATA_SOURCE_PASS (each or its _FILE)",
            effect: "the database to scrape; DATA_SOURCE_PASS_FILE (stackctl's) names a file whose trimmed content is the password, read once at start, before DATA_SOURCE_PASS",
        },
        up(PGX, PGX_TAG, "cmd/postgres_exporter/datasource.go"),
    )],
    min_kubernetes: NO_API,
    real_run: RealRun::None {
        why: "Debian packages postgres-exporter 0.11, but no test runs it",
    },
    exceptions: &[
        Exception {
            container: "metrics",
            rule: Rule::Uid,
            why: "the sidecar inherits the PostgreSQL pod's runAsUser 999 instead of its image's nobody: harmless (it writes nothing), but not its image's user; set a container securityContext",
            known_defect: true,
        },
        Exception {
            container: "metrics",
            rule: Rule::Gid,
            why: "inherits the pod's runAsGroup 999, see uid",
            known_defect: true,
        },
    ],
};

const IN_HOUSE_PORTS: &[Fact<Port>] = &[fact(
    port(
        8080,
        "HTTP: the image must listen on the port the values give",
    ),
    by_stackctl("src/stacks/aiops/inhouse.rs"),
)];
const IN_HOUSE_ENV: &[Fact<Env>] = &[fact(
    Env {
        name: "PROMETHEUS_URL, ELASTICSEARCH_*, REDIS_*, POSTGRES_*, DATABASE_URL",
        effect: "connection settings for the platform's services",
    },
    by_stackctl("src/stacks/aiops/inhouse.rs"),
)];

/// The in-house services: images the user builds, so nothing about them is known.
const fn in_house(component: &'static str) -> ImageContract {
    const WHY: &str = "user-supplied image: unknown until the user says";
    ImageContract {
        image: component,
        tag: "any",
        matched_by: Match::Component(component),
        about: &[],
        uid: fact(None, unverified(WHY)),
        gid: fact(None, unverified(WHY)),
        writable_paths: &[],
        data_dir: fact(None, unverified(WHY)),
        config_files: &[],
        entrypoint: fact("image default", unverified(WHY)),
        command: fact("image default", unverified(WHY)),
        flags: &[],
        ports: IN_HOUSE_PORTS,
        health: &[],
        base_path: None,
        env: IN_HOUSE_ENV,
        min_kubernetes: fact(None, unverified(WHY)),
        real_run: RealRun::None {
            why: "built by the user: nothing to run",
        },
        exceptions: &[],
    }
}

pub static AI_ENGINE: ImageContract = in_house("ai-engine");
pub static API_GATEWAY: ImageContract = in_house("api-gateway");
pub static SELF_HEALING: ImageContract = in_house("self-healing");

pub static CONTRACTS: &[&ImageContract] = &[
    &TRAEFIK_3_4_1,
    &NODE_EXPORTER,
    &KUBE_STATE_METRICS,
    &ALERTMANAGER,
    &GRAFANA,
    &ELASTICSEARCH,
    &LOGSTASH,
    &KIBANA,
    &POSTGRES,
    &POSTGRES_EXPORTER,
    &AI_ENGINE,
    &API_GATEWAY,
    &SELF_HEALING,
];
