//! How much a user may hand stackctl, and the one reader of everything they hand it.
//!
//! Values end up in two places the cluster bounds. Each rendered object goes to the
//! API server in one request, and a ConfigMap's or Secret's data may not exceed
//! 1 MiB (etcd refuses values above 1.5 MiB). And the release record — a Secret
//! holding the whole values tree next to the rendered manifests, gzipped (see
//! `release::record`) — must fit in 1 MiB as well. A value can end up in an object
//! whole (`--set-file clickvisual.schema.sql=FILE` becomes a ConfigMap key), so the
//! limits below keep any one input, and all of them together, well under 1 MiB.
//!
//! Reading stops at the limit ([`Read::take`]), so a file that grows while read or a
//! device that never ends costs one limit of memory, and only regular files are
//! opened at all: opening a named pipe nobody writes to blocks forever, and a device
//! is never what was meant.

use std::cell::Cell;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

const KIB: u64 = 1024;

/// A values file (`-f`) or a profile file (`--profile PATH`): half the 1 MiB an
/// object may hold, so that one file's values fit any object they land in, with
/// room for the rest of it. The built-in profiles are a few KiB; a values file
/// of hand-written settings is rarely more than tens.
pub const VALUES_FILE: u64 = 512 * KIB;

/// One `--set-file`: its content becomes one string value, usually a whole key of
/// a ConfigMap or Secret (a schema script, a certificate); a quarter of the 1 MiB
/// leaves room for the other keys of that object.
pub const SET_FILE: u64 = 256 * KIB;

/// One `--set`, `--set-string` or `--set-json` flag, as typed. Linux caps one
/// argument at 128 KiB anyway; anything near that belongs in a file.
pub const SET_FLAG: u64 = 64 * KIB;

/// Everything given together: the profile, every `-f` file, every flag and every
/// `--set-file`'s content. Three quarters of 1 MiB, so that even if all of it
/// lands in one object (or, compressed, in the release record) it still fits.
pub const TOTAL: u64 = 768 * KIB;

/// What is wrong with one input; `input` names it as the user gave it
/// ("values file big.yaml (-f)", `file "cert.pem"` of a `--set-file`).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(
        "{input} is larger than {limit}, the most stackctl reads from one {kind}; {WHY}",
        limit = Human(*limit)
    )]
    TooLarge {
        input: String,
        kind: &'static str,
        limit: u64,
    },
    #[error(
        "{input} brings what was given (profile, -f files, --set flags and --set-file contents) \
         to more than {limit} in all; {WHY}",
        limit = Human(TOTAL)
    )]
    OverTotal { input: String },
    #[error(
        "{input} is {what}, not a file; stackctl reads only regular files (write it to one first)"
    )]
    NotAFile { input: String, what: &'static str },
    #[error("{input} is not UTF-8 text")]
    NotText { input: String },
    #[error("cannot read {input}: {source}")]
    Io {
        input: String,
        #[source]
        source: std::io::Error,
    },
}

const WHY: &str = "every rendered object must stay under the 1 MiB the Kubernetes API server \
                   accepts, and so must the release record, which holds all values";

/// Reads the regular file at `path` as text, at most `limit` bytes of it. `input`
/// names it in errors; `kind` says what sort of input the limit is for.
pub fn read_file(
    path: &Path,
    input: &str,
    kind: &'static str,
    limit: u64,
) -> Result<String, InputError> {
    let io = |source| InputError::Io {
        input: input.to_owned(),
        source,
    };
    // Checked before opening: open() itself blocks on a pipe without a writer.
    check_regular(&std::fs::metadata(path).map_err(io)?, input)?;
    let file = File::open(path).map_err(io)?;
    // And again on what was opened, in case the path changed in between.
    let meta = file.metadata().map_err(io)?;
    check_regular(&meta, input)?;
    read_limited(file, meta.len().min(limit), input, kind, limit)
}

fn check_regular(meta: &std::fs::Metadata, input: &str) -> Result<(), InputError> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let what = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a named pipe"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(InputError::NotAFile {
        input: input.to_owned(),
        what,
    })
}

/// Reads `from` as text, refusing it once more than `limit` bytes came;
/// `expected` is only a capacity hint.
pub fn read_limited(
    from: impl Read,
    expected: u64,
    input: &str,
    kind: &'static str,
    limit: u64,
) -> Result<String, InputError> {
    let mut bytes = Vec::with_capacity(expected.min(limit) as usize);
    // One byte past the limit tells "exactly the limit" from "more".
    from.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| InputError::Io {
            input: input.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge {
            input: input.to_owned(),
            kind,
            limit,
        });
    }
    String::from_utf8(bytes).map_err(|_| InputError::NotText {
        input: input.to_owned(),
    })
}

/// Refuses a flag longer than [`SET_FLAG`]; `flag` is its name, `raw` as typed.
pub fn check_flag(flag: &str, raw: &str) -> Result<(), InputError> {
    if raw.len() as u64 <= SET_FLAG {
        return Ok(());
    }
    Err(InputError::TooLarge {
        input: format!("{flag} {}", key_of(raw)),
        kind: "flag",
        limit: SET_FLAG,
    })
}

/// A flag named by its first key only: its value may be a secret, and is long.
pub fn key_of(raw: &str) -> String {
    let key: String = raw
        .split('=')
        .next()
        .unwrap_or_default()
        .chars()
        .take(80)
        .collect();
    format!("{key}=…")
}

/// Counts what was given against [`TOTAL`]; shared by the readers of one command.
#[derive(Debug, Default)]
pub struct Budget {
    used: Cell<u64>,
}

impl Budget {
    /// Adds `bytes` of `input`: an error for the input that takes the total over
    /// [`TOTAL`], and only for that one, so that it is reported once.
    pub fn spend(&self, input: &str, bytes: usize) -> Result<(), InputError> {
        let before = self.used.get();
        let after = before.saturating_add(bytes as u64);
        self.used.set(after);
        if before <= TOTAL && after > TOTAL {
            return Err(InputError::OverTotal {
                input: input.to_owned(),
            });
        }
        Ok(())
    }

    /// Whether the total is already over: nothing more needs to be read.
    pub fn exhausted(&self) -> bool {
        self.used.get() > TOTAL
    }
}

/// Bytes in the largest whole unit: `512 KiB`, `1 MiB`, `1000 bytes`.
#[derive(Clone, Copy, Debug)]
pub struct Human(pub u64);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n >= KIB * KIB && n.is_multiple_of(KIB * KIB) {
            write!(f, "{} MiB", n / (KIB * KIB))
        } else if n >= KIB && n.is_multiple_of(KIB) {
            write!(f, "{} KiB", n / KIB)
        } else {
            write!(f, "{n} bytes")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(len: usize, limit: u64) -> Result<String, InputError> {
        read_limited(
            std::io::repeat(b'a').take(len as u64),
            0,
            "values file big.yaml (-f)",
            "values file",
            limit,
        )
    }

    #[test]
    fn the_limit_itself_passes_and_one_byte_more_fails() {
        assert_eq!(read(10, 10).unwrap().len(), 10);
        assert_eq!(read(0, 10).unwrap(), "");
        let err = read(11, 10).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "values file big.yaml (-f) is larger than 10 bytes, the most stackctl reads from one values file; "
            ),
            "{err}"
        );
        let err = read(VALUES_FILE as usize + 1, VALUES_FILE)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("big.yaml (-f) is larger than 512 KiB"),
            "{err}"
        );
        assert!(
            err.contains("1 MiB the Kubernetes API server accepts"),
            "{err}"
        );
    }

    #[test]
    fn an_endless_reader_stops_at_the_limit() {
        let err = read_limited(std::io::repeat(0), 0, "x", "values file", SET_FILE).unwrap_err();
        assert!(matches!(err, InputError::TooLarge { limit, .. } if limit == SET_FILE));
    }

    #[test]
    fn non_text_is_refused() {
        let err = read_limited(&[0xff, 0xfe][..], 0, "file \"a.bin\"", "--set-file", 10)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "file \"a.bin\" is not UTF-8 text");
    }

    #[test]
    fn only_regular_files_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_file(dir.path(), "values file d (-f)", "values file", VALUES_FILE)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("values file d (-f) is a directory, not a file"),
            "{err}"
        );
        let err = read_file(
            Path::new("/dev/zero"),
            "values file /dev/zero (-f)",
            "values file",
            VALUES_FILE,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("values file /dev/zero (-f) is a character device, not a file"),
            "{err}"
        );
        let err = read_file(
            &dir.path().join("gone"),
            "values file gone (-f)",
            "values file",
            VALUES_FILE,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("cannot read values file gone (-f): "),
            "{err}"
        );

        let file = dir.path().join("v.yaml");
        std::fs::write(&file, "a: 1\n").unwrap();
        assert_eq!(
            read_file(&file, "v", "values file", VALUES_FILE).unwrap(),
            "a: 1\n"
        );
        assert!(matches!(
            read_file(&file, "v", "values file", 4),
            Err(InputError::TooLarge { limit: 4, .. })
        ));
    }

    #[test]
    fn long_flags_are_named_by_their_key_only() {
        let secret = "s".repeat(SET_FLAG as usize);
        check_flag("--set", &format!("k={}", &secret[2..])).unwrap();
        let err = check_flag("--set", &format!("a.b={secret}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "--set a.b=… is larger than 64 KiB, the most stackctl reads from one flag; "
            ),
            "{err}"
        );
        assert!(!err.contains("sss"), "{err}");
    }

    #[test]
    fn the_budget_counts_everything_given() {
        let b = Budget::default();
        b.spend("a", TOTAL as usize - 1).unwrap();
        b.spend("b", 1).unwrap();
        assert!(!b.exhausted());
        let err = b.spend("values file c (-f)", 1).unwrap_err().to_string();
        assert!(
            err.starts_with("values file c (-f) brings what was given"),
            "{err}"
        );
        assert!(err.contains("more than 768 KiB in all"), "{err}");
        assert!(b.exhausted());
        b.spend("d", 1).unwrap();
    }

    #[test]
    fn sizes_read_in_whole_units() {
        assert_eq!(Human(512 * KIB).to_string(), "512 KiB");
        assert_eq!(Human(KIB * KIB).to_string(), "1 MiB");
        assert_eq!(Human(1500).to_string(), "1500 bytes");
    }
}
