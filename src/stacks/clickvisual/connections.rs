//! Where ClickVisual's dependencies are, from whichever side is active (inside the
//! release or external), and how apps get their credentials: always from a Secret
//! key, never from a literal in a pod spec.

use super::values::Values;
use crate::model::Release;

pub use crate::stacks::kit::{SecretKey, credentials_secret};
use crate::stacks::kit::{Side, side};

/// Names of the credentials Secrets and their keys. The Secrets exist in both modes:
/// internal ones hold generated passwords, external ones the password given by the user.
pub mod keys {
    pub const MYSQL_ROOT_PASSWORD: &str = "mysql-root-password";
    pub const MYSQL_PASSWORD: &str = "mysql-password";
    pub const REDIS_PASSWORD: &str = crate::stacks::kit::redis::PASSWORD_KEY;
    pub const CLICKHOUSE_PASSWORD: &str = "clickhouse-password";
}

pub use crate::stacks::kit::Database as Mysql;

/// go-sql-driver DSN as ClickVisual's `[mysql] dsn` expects it. Passwords are
/// generated from letters and digits; user-given ones are used verbatim, since the
/// driver splits user and password at the first ':' and the address at the last '@'.
pub fn mysql_dsn(m: &Mysql) -> String {
    format!(
        "{}:{}@tcp({}:{})/{}?charset=utf8mb4&collation=utf8mb4_general_ci&parseTime=True&loc=Local&readTimeout=10s&timeout=5s&writeTimeout=10s",
        m.username, m.password, m.host, m.port, m.database
    )
}

pub use crate::stacks::kit::redis::Connection as Redis;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickHouse {
    pub host: String,
    pub port: u16,
    pub http_port: u16,
    pub username: String,
    pub password: String,
    pub database: String,
    pub password_ref: SecretKey,
    pub internal: bool,
}

impl ClickHouse {
    /// clickhouse-go v2 DSN, the form ClickVisual's instance settings take: it opens
    /// `clickhouse://…` DSNs as given (`ClickhouseDsnConvert` in
    /// clickvisual/clickvisual v1.0.7 `api/internal/pkg/utils/clickhouse.go`, called
    /// by `service/instance.go`).
    pub fn dsn(&self) -> String {
        self.dsn_with(&self.password)
    }

    /// The DSN with `<password>` where the password goes, for the notes: they are
    /// printed, and the password is read from its Secret.
    pub fn dsn_without_password(&self) -> String {
        self.dsn_with("<password>")
    }

    fn dsn_with(&self, password: &str) -> String {
        format!(
            "clickhouse://{}:{password}@{}:{}/{}?dial_timeout=2s&max_execution_time=60",
            self.username, self.host, self.port, self.database
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kafka {
    pub brokers: Vec<String>,
    pub internal: bool,
}

impl Kafka {
    pub fn brokers_csv(&self) -> String {
        self.brokers.join(",")
    }
}

/// Every dependency endpoint; `None` where the dependency is not used at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connections {
    pub mysql: Mysql,
    /// Redis is used when enabled internally or given externally.
    pub redis: Option<Redis>,
    pub clickhouse: Option<ClickHouse>,
    pub kafka: Option<Kafka>,
}

impl crate::stacks::kit::Wiring<Values> for Connections {
    fn wire(values: &Values, release: &Release) -> Self {
        Self::new(values, release)
    }
}

impl Connections {
    pub fn new(v: &Values, release: &Release) -> Self {
        let mysql_ref = SecretKey {
            secret: credentials_secret(release, "mysql"),
            key: keys::MYSQL_PASSWORD,
        };
        // ClickVisual cannot run without MySQL: external when not internal
        // (validation requires `mysql.external.host` then).
        let mysql = if v.mysql.enabled {
            Mysql {
                host: release.service_host("mysql"),
                port: 3306,
                username: v.mysql.auth.username.clone(),
                password: v.mysql.auth.password.clone(),
                database: v.mysql.auth.database.clone(),
                password_ref: mysql_ref,
                internal: true,
            }
        } else {
            Mysql::external(&v.mysql.external, mysql_ref)
        };

        let redis = crate::stacks::kit::redis::connection(release, &v.redis);

        let ch_ref = SecretKey {
            secret: credentials_secret(release, "clickhouse"),
            key: keys::CLICKHOUSE_PASSWORD,
        };
        let clickhouse =
            side(v.clickhouse.enabled, !v.clickhouse.external.host.is_empty()).map(|s| match s {
                Side::Internal => ClickHouse {
                    host: release.service_host("clickhouse"),
                    port: 9000,
                    http_port: 8123,
                    username: v.clickhouse.auth.username.clone(),
                    password: v.clickhouse.auth.password.clone(),
                    database: v.clickhouse.database.clone(),
                    password_ref: ch_ref,
                    internal: true,
                },
                Side::External => {
                    let e = &v.clickhouse.external;
                    ClickHouse {
                        host: e.host.clone(),
                        port: e.port,
                        http_port: e.http_port,
                        username: e.username.clone(),
                        password: e.password.clone(),
                        database: e.database.clone(),
                        password_ref: ch_ref,
                        internal: false,
                    }
                }
            });

        let kafka = side(v.kafka.enabled, !v.kafka.external.brokers.is_empty()).map(|s| match s {
            Side::Internal => {
                // Clients bootstrap from the first broker and learn the rest from metadata.
                let brokers = (0..v.kafka.replicas)
                    .map(|i| {
                        format!(
                            "{}-{i}.{}.{}.svc:9092",
                            release.object_name("kafka"),
                            release.object_name("kafka-headless"),
                            release.namespace
                        )
                    })
                    .collect();
                Kafka {
                    brokers,
                    internal: true,
                }
            }
            Side::External => Kafka {
                brokers: v.kafka.external.brokers.clone(),
                internal: false,
            },
        });

        Connections {
            mysql,
            redis,
            clickhouse,
            kafka,
        }
    }
}
