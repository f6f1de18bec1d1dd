//! What ClickVisual's components share beyond the kit's context (`kit::Ctx`).

use super::values::Resources;

/// Name of every data service's volume claim template.
pub(super) use crate::stacks::kit::DATA_VOLUME;

/// JVM heap for a memory limit: half of it, leaving the rest to off-heap memory and
/// the page cache, which Kafka and ZooKeeper lean on. `None` for tiny limits, where
/// the image's own default is as good a guess.
pub(super) fn jvm_heap_mib(r: &Resources) -> Option<u64> {
    let mib = r.limits.memory.value() / (1024.0 * 1024.0) / 2.0;
    (mib >= 64.0).then_some(mib as u64)
}

/// `xs` joined with `sep` after mapping each through `f`.
pub(super) fn join<T>(
    xs: impl IntoIterator<Item = T>,
    sep: &str,
    f: impl Fn(T) -> String,
) -> String {
    xs.into_iter().map(f).collect::<Vec<_>>().join(sep)
}

#[cfg(test)]
pub(super) mod testing {
    //! Values and context for the components' tests.

    pub use crate::stacks::kit::testing::*;

    use super::super::values::Values;
    use super::super::{DEFAULTS_YAML, render};
    use crate::model::{Capabilities, Release, Rendered};

    /// Fixed secrets, distinct enough to search rendered output for.
    pub const MYSQL_ROOT: &str = "RootPw1x7Qk2";
    pub const MYSQL_PW: &str = "MysqlPw9Zt4Lm";
    pub const REDIS_PW: &str = "RedisPw3Hc8Vn";
    pub const CH_PW: &str = "ChPw5Rb2Wd6";
    pub const SECRET_KEY: &str = "SecretKey4Jf8Tp1Ge";
    pub const ENCRYPTION_KEY: &str = "EncKey0123456789abcdefghijklmnop";
    pub const SESSION_KEY: &str = "SessionKey7Ys3Ua9";

    pub fn values() -> Values {
        let mut v: Values = serde_saphyr::from_str(DEFAULTS_YAML).expect("defaults parse");
        v.mysql.auth.root_password = MYSQL_ROOT.into();
        v.mysql.auth.password = MYSQL_PW.into();
        v.redis.auth.password = REDIS_PW.into();
        v.clickhouse.auth.password = CH_PW.into();
        v.clickvisual.config.secret_key = SECRET_KEY.into();
        v.clickvisual.config.encryption_key = ENCRYPTION_KEY.into();
        v.clickvisual.config.session_key = SESSION_KEY.into();
        v
    }

    /// MySQL outside the release, on a port and with names that differ from the
    /// internal defaults.
    pub fn use_external_mysql(v: &mut Values, username: &str) {
        v.mysql.enabled = false;
        v.mysql.external.host = "db.example.com".into();
        v.mysql.external.port = 3307;
        v.mysql.external.username = username.into();
        v.mysql.external.password = "ExtPw".into();
        v.mysql.external.database = "cvdb".into();
    }

    pub fn release() -> Release {
        Release {
            name: "cv".into(),
            namespace: "logs".into(),
            stack: "clickvisual",
            revision: 1,
        }
    }

    pub fn render_all(v: &Values) -> Vec<Rendered> {
        render(v, &release(), Capabilities::latest())
    }
}

#[cfg(test)]
mod render_tests {
    //! Properties of the whole render, across components.

    use super::testing::*;

    /// Everything on: clustered ClickHouse, three Kafka and ZooKeeper, replicated
    /// app, Prometheus and Ingress.
    fn production() -> super::super::values::Values {
        let mut v = values();
        v.clickvisual.replicas = 3;
        v.clickhouse.shards = 3;
        v.clickhouse.replicas = 2;
        v.kafka.replicas = 3;
        v.zookeeper.replicas = 3;
        v.prometheus.enabled = true;
        v.ingress.enabled = true;
        v.global.pod_disruption_budgets = true;
        v
    }

    #[test]
    fn passwords_appear_only_in_secrets() {
        for v in [values(), production()] {
            for m in render_all(&v).iter().flat_map(|r| &r.manifests) {
                if m.kind == "Secret" {
                    continue;
                }
                let text = serde_json::to_string(&m.body).unwrap();
                for secret in [
                    MYSQL_ROOT,
                    MYSQL_PW,
                    REDIS_PW,
                    CH_PW,
                    SECRET_KEY,
                    ENCRYPTION_KEY,
                    SESSION_KEY,
                ] {
                    assert!(!text.contains(secret), "{secret} in {}", m.id());
                }
            }
        }
    }
}
