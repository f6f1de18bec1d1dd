//! Value types stacks use in their values structs.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::checks;

/// A Kubernetes resource quantity (`8Gi`, `500m`, `1.5`, `2e3`), checked when
/// deserialized and, through its schema's `format: "quantity"`, during the
/// values walk (which reports it with its origin).
///
/// YAML numbers are accepted (`cpu: 1`, `cpu: 0.5`) because that is how people
/// write CPU counts; they are kept in their decimal text form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Quantity(String);

impl Quantity {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value in base units (bytes, cores): `1Ki` is 1024.0, `500m` is 0.5.
    /// Approximate (f64); for capacity estimates, not for exact comparisons.
    pub fn value(&self) -> f64 {
        checks::parse_quantity(&self.0).unwrap_or(0.0)
    }
}

impl FromStr for Quantity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        checks::quantity(s)?;
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Quantity {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(i64),
            Float(f64),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => f.to_string(),
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["string", "number"],
            "format": "quantity",
            "description": "A Kubernetes quantity such as 8Gi, 500m, 1.5 or 2e3."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantity_deserializes_from_text_and_numbers() {
        let q: Quantity = serde_json::from_str("\"8Gi\"").unwrap();
        assert_eq!(q.as_str(), "8Gi");
        assert!((q.value() - 8.0 * 1024.0 * 1024.0 * 1024.0).abs() < f64::EPSILON);
        let q: Quantity = serde_json::from_str("0.5").unwrap();
        assert_eq!(q.to_string(), "0.5");
        let q: Quantity = serde_json::from_str("2").unwrap();
        assert_eq!(serde_json::to_string(&q).unwrap(), "\"2\"");
        let e = serde_json::from_str::<Quantity>("\"8GB\"").unwrap_err();
        assert!(e.to_string().contains("not a Kubernetes quantity"), "{e}");
        assert!(serde_json::from_str::<Quantity>("true").is_err());
        assert!("500m".parse::<Quantity>().is_ok());
    }

    #[test]
    fn quantity_schema_carries_the_format() {
        let s = schemars::schema_for!(Quantity).to_value();
        assert_eq!(s["format"], "quantity");
    }
}
