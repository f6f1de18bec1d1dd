//! Built-in profiles resolved through the engine's view of a stack, for tests that
//! look at what a stack makes of a whole profile.

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{ResolvedValues, Stack, find};
use crate::model::{Capabilities, Release, Rendered};
use crate::profiles;
use crate::values::{Layer, SetFlag};

/// What a profile leaves to the user, filled in from the examples it declares.
pub fn required_input(p: &profiles::Profile) -> Vec<SetFlag> {
    p.requires
        .iter()
        .map(|r| {
            let example = r.example.as_ref().unwrap_or_else(|| {
                panic!(
                    "{}: built-in requirement {} has no example",
                    p.source, r.key
                )
            });
            SetFlag::json(format!("{}={example}", r.key))
        })
        .collect()
}

/// The names of the built-in profiles, of every stack.
pub fn builtin_profiles() -> Vec<String> {
    profiles::builtin().into_iter().map(|p| p.name).collect()
}

/// A resolved built-in profile with `sets` (`--set` syntax) on top.
pub struct Resolved {
    pub stack: &'static dyn Stack,
    pub values: ResolvedValues,
    pub release: Release,
}

impl Resolved {
    pub fn render(&self) -> Vec<Rendered> {
        self.stack
            .render(&self.values, &self.release, Capabilities::latest())
            .unwrap()
    }
}

/// Built-in profile `name` for release `rel` in namespace `ns-a`, secrets from a
/// fixed seed.
pub fn resolve(name: &str, sets: &[&str]) -> Resolved {
    let p = profiles::load(name).unwrap();
    let stack = find(&p.stack).unwrap();
    let layers = [
        Layer::defaults(stack.defaults_yaml()),
        Layer::profile(&p.name, &p.source, p.yaml.clone()),
    ];
    let mut input = required_input(&p);
    input.extend(sets.iter().map(|s| SetFlag::set(*s)));
    let values = stack
        .resolve(&layers, &input, &mut StdRng::seed_from_u64(7))
        .unwrap_or_else(|e| panic!("profile {name}: {e}"));
    Resolved {
        stack,
        values,
        release: Release {
            name: "rel".into(),
            namespace: "ns-a".into(),
            stack: stack.name(),
            revision: 1,
        },
    }
}

/// The components whose pods a render makes, by their pod templates'
/// `app.kubernetes.io/component` label.
pub fn pod_components(rendered: &[Rendered]) -> std::collections::BTreeSet<String> {
    rendered
        .iter()
        .flat_map(|r| &r.manifests)
        .filter_map(|m| {
            m.body["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}
