//! The schedule of a CronJob, checked as the API server checks it, so that a bad
//! one is reported with its key before anything is written (the API server would
//! refuse the CronJob only in the apps phase, after the databases were installed).
//!
//! Kubernetes validates `spec.schedule` with robfig/cron's `ParseStandard`
//! (`pkg/apis/batch/validation/validation.go`, `validateScheduleFormat`): five
//! fields (minute, hour, day of month, month, day of week) or a descriptor
//! (`@hourly` … `@yearly`, `@every <duration>`). Written here rather than taken
//! from a crate: the cron crates on crates.io parse other dialects (a seconds
//! field, Quartz's `L`, `W` and `#`) and would pass schedules the API server refuses.
//! Time zones (`TZ=`, `CRON_TZ=`) are refused: Kubernetes 1.20 does not know them,
//! and later versions took them out of `schedule` (`spec.timeZone`, 1.27).

/// `Ok` for a schedule the API server accepts; empty means "no schedule".
pub fn schedule(s: &str) -> Result<(), String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(());
    }
    if s.starts_with("TZ=") || s.starts_with("CRON_TZ=") {
        return Err(format!(
            "{s:?}: a time zone in the schedule is not supported; schedules run in the controller manager's time zone (usually UTC)"
        ));
    }
    if let Some(rest) = s.strip_prefix('@') {
        return descriptor(rest).map_err(|e| format!("{s:?}: {e}"));
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "{s:?}: a schedule has 5 fields (minute hour day-of-month month day-of-week), got {}",
            fields.len()
        ));
    }
    for (text, f) in fields.iter().zip(FIELDS) {
        field(text, &f).map_err(|e| format!("{s:?}: {} {e}", f.name))?;
    }
    Ok(())
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: MONTHS,
    },
    Field {
        name: "day of week",
        min: 0,
        max: 6,
        names: DAYS,
    },
];

/// A comma-separated list of `*`/`?`, `a`, `a-b`, each with an optional `/step`.
fn field(text: &str, f: &Field) -> Result<(), String> {
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        if range == "*" || range == "?" {
            // Nothing to check.
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a, f)?, value(b, f)?);
            if a > b {
                return Err(format!("{part:?}: the range starts after it ends"));
            }
        } else {
            value(range, f)?;
        }
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(n) if n > 0 => {}
                _ => return Err(format!("{part:?}: the step must be a positive number")),
            }
        }
    }
    Ok(())
}

/// A number in the field's bounds, or (months, days) a three-letter name.
fn value(text: &str, f: &Field) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = f.names.iter().position(|n| *n == lower) {
        return Ok(f.min + u32::try_from(i).unwrap_or(0));
    }
    match text.parse::<u32>() {
        Ok(n) if (f.min..=f.max).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is outside {}-{}", f.min, f.max)),
        Err(_) => Err(format!("{text:?} is not a number")),
    }
}

fn descriptor(d: &str) -> Result<(), String> {
    match d {
        "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => Ok(()),
        _ => match d.strip_prefix("every ") {
            Some(duration) => go_duration(duration.trim()),
            None => Err(format!(
                "unknown descriptor @{d}; known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, @every <duration>"
            )),
        },
    }
}

/// Go's `time.ParseDuration`: numbers (decimals allowed) each with a unit.
fn go_duration(s: &str) -> Result<(), String> {
    let bad = || format!("{s:?} is not a duration like 90m or 1h30m");
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        rest = &rest[digits..];
        let unit = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .iter()
            .filter(|u| rest.starts_with(*u))
            .max_by_key(|u| u.len())
            .ok_or_else(bad)?;
        rest = &rest[unit.len()..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::schedule;

    #[test]
    fn schedules_the_api_server_takes() {
        for s in [
            "",
            "0 3 * * *",
            "*/15 * * * *",
            "0 0,12 1-15/2 jan-JUN mon-fri",
            "30 2 ? * sun",
            "5 4 * * 0",
            "@daily",
            "@every 1h30m",
            "@every 2.5h",
        ] {
            assert_eq!(schedule(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn schedules_it_refuses_say_which_field_and_why() {
        let cases = [
            ("0 3 * *", "5 fields"),
            ("0 3 * * * *", "got 6"),
            ("60 * * * *", "minute 60 is outside 0-59"),
            ("0 24 * * *", "hour 24 is outside 0-23"),
            ("0 0 0 * *", "day of month 0 is outside 1-31"),
            ("0 0 * 13 *", "month 13 is outside 1-12"),
            ("0 0 * * 7", "day of week 7 is outside 0-6"),
            ("0 0 * * L", "day of week \"L\" is not a number"),
            ("*/0 * * * *", "the step must be a positive number"),
            ("0 5-2 * * *", "starts after it ends"),
            ("@fortnightly", "unknown descriptor"),
            ("@every soon", "not a duration"),
            ("TZ=Europe/Paris 0 3 * * *", "time zone"),
        ];
        for (s, want) in cases {
            let err = schedule(s).unwrap_err();
            assert!(err.contains(want), "{s}: {err}");
        }
    }
}
