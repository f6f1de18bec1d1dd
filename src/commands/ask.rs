//! Asking instead of refusing. When the only thing wrong with the values is that
//! the profile requires some nobody gave (`stackctl install --profile aiops`), a
//! person at a terminal is asked for each: with what the value is, hidden input
//! for secrets, each answer checked as the values layer will check it, and for a
//! component that is on, the other answer, switching it off. Then the answers can
//! be kept in a values file (mode 0600) with the command that uses it.
//!
//! Never without a terminal on both stdin and stderr, and never with `--yes`:
//! automation gets the refusal as before, exit 2, naming every key.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::operations::{Input, Prepared, prepare};
use crate::values::{Missing, Problems};

/// Whether there is a person to ask: a terminal on both ends, and no `--yes`.
fn can_ask(yes: bool) -> bool {
    !yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// [`prepare`], asking for the values the profile requires when that is all that
/// is wrong and someone can answer. The answers end up in `input`, so whatever
/// prepares it again (a retried install) sees them too.
pub fn prepare_asking(input: &mut Input, yes: bool) -> Result<Prepared> {
    let mut asked = BTreeSet::new();
    let mut answers = Value::Object(serde_json::Map::new());
    loop {
        let err = match prepare(input) {
            Ok(prepared) => {
                if !asked.is_empty() {
                    offer_to_save(&answers, &prepared.release.name, &asked)?;
                }
                return Ok(prepared);
            }
            Err(err) => err,
        };
        let next = err
            .downcast_ref::<Problems>()
            .and_then(Problems::only_missing)
            .and_then(|missing| missing.into_iter().find(|m| !asked.contains(&m.key)))
            .cloned();
        // Anything else wrong, or a key answered and still missing (a `--set`
        // of it to nothing wins over the answer): the refusal says it all.
        let Some(missing) = next else { return Err(err) };
        if !can_ask(yes) {
            return Err(err);
        }
        if asked.is_empty() {
            eprintln!(
                "The profile requires values that are not set; answer below (Ctrl-C stops, nothing is changed)."
            );
        }
        ask(&missing, input, &mut answers)?;
        asked.insert(missing.key.clone());
        input.answers = Some(answers.clone());
    }
}

/// Asks for one value, or for switching its component off, and records the answer.
fn ask(missing: &Missing, input: &Input, answers: &mut Value) -> Result<()> {
    eprintln!("\n{}", missing.key);
    for line in &missing.about {
        eprintln!("  {line}");
    }
    if let Some(example) = &missing.example {
        let example = example
            .as_str()
            .map_or_else(|| example.to_string(), str::to_owned);
        eprintln!("  e.g. {example}");
    }
    if let Some(switch) = &missing.switch {
        let component = switch.trim_end_matches(".enabled");
        let choice = dialoguer::Select::new()
            .items(&[
                format!("enter {}", missing.key),
                format!("disable {component} ({switch}=false)"),
            ])
            .default(0)
            .interact()
            .context("reading the answer")?;
        if choice == 1 {
            set(answers, switch, Value::Bool(false));
            return Ok(());
        }
    }
    // Checked on Enter by the same resolution the operation runs, so the
    // answer meets every rule the key has (an image repository's syntax, say).
    let check = |text: &String| -> Result<(), String> {
        let mut trial = answers.clone();
        set(&mut trial, &missing.key, answer_value(missing, text));
        let trial = Input {
            answers: Some(trial),
            ..input.clone()
        };
        problems_at(&trial, &missing.key)
    };
    let prompt = missing.key.as_str();
    let text = if missing.secret {
        dialoguer::Password::new()
            .with_prompt(prompt)
            .with_confirmation("again", "the two entries differ; once more")
            .validate_with(check)
            .interact()
    } else {
        dialoguer::Input::<String>::new()
            .with_prompt(prompt)
            .validate_with(check)
            .interact_text()
    }
    .context("reading the answer")?;
    set(answers, &missing.key, answer_value(missing, &text));
    Ok(())
}

/// What `key` alone is found to lack with `input`, worded for the prompt.
fn problems_at(input: &Input, key: &str) -> Result<(), String> {
    let Err(err) = prepare(input) else {
        return Ok(());
    };
    let Some(problems) = err.downcast_ref::<Problems>() else {
        // Not about values (an unreadable -f file, say): the operation will say.
        return Ok(());
    };
    let here: Vec<String> = problems
        .iter()
        .filter(|p| p.path.to_string() == key)
        .map(|p| p.message.clone())
        .collect();
    if here.is_empty() {
        Ok(())
    } else {
        Err(here.join("; "))
    }
}

/// The typed answer: text where the schema takes text, else a YAML scalar.
fn answer_value(missing: &Missing, text: &str) -> Value {
    if missing.text {
        return Value::String(text.to_owned());
    }
    serde_saphyr::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Puts `value` at `key` (`--set` syntax) of `tree`, creating maps on the way.
fn set(tree: &mut Value, key: &str, value: Value) {
    crate::values::Path::parse(key).set(tree, value);
}

/// Offers to write the answers to a new values file readable by its owner alone,
/// and prints the command line that uses it.
fn offer_to_save(answers: &Value, release: &str, keys: &BTreeSet<String>) -> Result<()> {
    let keep = dialoguer::Confirm::new()
        .with_prompt("Keep these answers in a values file for next time?")
        .default(true)
        .interact()
        .context("reading the answer")?;
    if !keep {
        return Ok(());
    }
    let path: String = dialoguer::Input::new()
        .with_prompt("values file")
        .default(format!("{release}-values.yaml"))
        .validate_with(|p: &String| {
            if Path::new(p).exists() {
                Err(format!("{p} exists; name a new file"))
            } else {
                Ok(())
            }
        })
        .interact_text()
        .context("reading the file name")?;
    write_private(Path::new(&path), answers, keys)?;
    let command: Vec<String> = std::iter::once("stackctl".to_owned())
        .chain(std::env::args().skip(1))
        .chain(["-f".to_owned(), path.clone()])
        .collect();
    let command =
        shlex::try_join(command.iter().map(String::as_str)).unwrap_or_else(|_| command.join(" "));
    eprintln!("wrote {path} (mode 0600); next time:\n  {command}");
    Ok(())
}

/// Writes `answers` as YAML to a file created for the purpose, mode 0600 from the
/// start (never readable by others, not even for a moment).
fn write_private(path: &Path, answers: &Value, keys: &BTreeSet<String>) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let body = format!(
        "# Answers given to `stackctl install` for: {}.\n# Keep this file private: it may hold passwords.\n{}",
        keys.join(", "),
        serde_saphyr::to_string(answers).context("writing the answers as YAML")?
    );
    file.write_all(body.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_nest_under_their_dotted_keys() {
        let mut tree = json!({});
        set(&mut tree, "aiEngine.image.repository", json!("r/a"));
        set(&mut tree, "aiEngine.enabled", json!(false));
        set(&mut tree, "mysql.external.password", json!("pw"));
        assert_eq!(
            tree,
            json!({
                "aiEngine": {"image": {"repository": "r/a"}, "enabled": false},
                "mysql": {"external": {"password": "pw"}},
            })
        );
    }

    #[test]
    fn answers_are_text_unless_the_schema_wants_otherwise() {
        let mut m = Missing {
            key: "a.b".into(),
            about: vec![],
            secret: false,
            text: true,
            example: None,
            switch: None,
        };
        assert_eq!(answer_value(&m, "0123"), json!("0123"));
        m.text = false;
        assert_eq!(answer_value(&m, "3306"), json!(3306));
        assert_eq!(answer_value(&m, "true"), json!(true));
    }

    #[test]
    fn the_values_file_is_private_and_reads_back_as_the_answers() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.yaml");
        let answers = json!({"mysql": {"external": {"password": "p: w#"}}});
        let keys = BTreeSet::from(["mysql.external.password".to_owned()]);
        write_private(&path, &answers, &keys).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let back: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back, answers);
        // Never over a file that is there.
        assert!(write_private(&path, &answers, &keys).is_err());
    }
}
