//! A small values type standing in for a stack in the tests.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::types::Quantity;
use super::{Problems, Validate, checks};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TestValues {
    pub app: App,
    pub mysql: Mysql,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct App {
    pub replicas: u32,
    pub image: Image,
    pub mode: Mode,
    pub env: Vec<EnvVar>,
    pub resources: Resources,
    pub hosts: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub metrics_port: Option<u16>,
    pub strategy: Option<Strategy>,
    pub ratio: f64,
    #[serde(default)]
    pub extra: serde_json::Value,
    pub users: Vec<User>,
    #[schemars(extend("x-stackctl-secret" = true))]
    pub secret_env: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Image {
    #[schemars(extend("format" = "image-repository"))]
    pub repository: String,
    pub tag: String,
}

#[derive(Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Fast,
    Safe,
}

/// Variants with doc comments: schemars emits `oneOf` of `const`s.
#[derive(Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Replace pods one by one.
    Rolling,
    /// Stop everything, then start.
    Recreate,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub cpu: Quantity,
    pub memory: Quantity,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    #[schemars(extend("x-stackctl-secret" = "generate"))]
    pub token: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Mysql {
    pub enabled: bool,
    pub port: u16,
    pub auth: Auth,
    pub external: External,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Auth {
    #[schemars(extend("x-stackctl-secret" = "generate"))]
    pub root_password: String,
    pub username: String,
    #[schemars(extend("x-stackctl-secret" = "generate"))]
    pub password: String,
    #[schemars(extend("x-stackctl-secret" = true))]
    pub pin: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(extend("x-stackctl-external" = true))]
pub struct External {
    pub host: String,
    pub port: u16,
    /// Password of the external database.
    #[schemars(extend("x-stackctl-secret" = true))]
    pub password: String,
}

impl Validate for TestValues {
    fn validate(&self, v: &mut Problems) {
        v.check("app.replicas", checks::replicas(self.app.replicas));
        v.check("mysql.port", checks::port(self.mysql.port));
        v.check("app.image.tag", checks::image_tag(&self.app.image.tag));
        if !self.mysql.enabled {
            if checks::required(&self.mysql.external.host).is_err() {
                v.add("mysql.external.host", "required when mysql.enabled=false")
                    .blame("mysql.enabled");
            } else {
                v.check(
                    "mysql.external.host",
                    checks::host(&self.mysql.external.host),
                );
            }
        }
    }
}

pub const DEFAULTS: &str = "\
app:
  replicas: 1
  image:
    repository: example/app
    tag: v1.0.0
  mode: fast
  env: []
  resources:
    cpu: 500m
    memory: 1Gi
  hosts: []
  labels: {}
  ratio: 0.5
  extra: {}
  users:
    - name: admin
      token: \"\"
  secretEnv: {}
mysql:
  enabled: true
  port: 3306
  auth:
    rootPassword: \"\"
    username: app
    password: \"\"
  external:
    host: \"\"
    port: 3306
    password: \"\"
";

/// The defaults as a tree, unvalidated.
pub fn defaults_value() -> serde_json::Value {
    serde_saphyr::from_str(DEFAULTS).expect("test defaults are valid YAML")
}
