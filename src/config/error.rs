//! The one error type of the config loader: which file, which line, and what is wrong.
//!
//! Messages reuse Dynomite's phrases (`directive "X" is unknown`, `is a duplicate`,
//! `is not "true" or "false"`, `is not a number`) so that people who know Dynomite's log
//! recognise them, and add the file and line Dynomite never printed.

use std::fmt;

/// A configuration file could not be loaded.
///
/// `Display` renders `file:line: message` (or `file: message` when no single line is at fault,
/// e.g. a missing directive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file name as given by the caller.
    pub file: String,
    /// The 1-based line at fault, when there is one.
    pub line: Option<usize>,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// What is wrong with a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read.
    Io(String),
    /// The file breaks one of Dynomite's structural rules, or is not YAML at all.
    Syntax(String),
    /// A directive that neither Dynomite nor redmite knows.
    Unknown {
        /// The key as written.
        key: String,
        /// The closest known directive, when one is near enough to be a typo.
        suggestion: Option<&'static str>,
    },
    /// A directive given twice.
    Duplicate {
        /// The key.
        key: String,
        /// The line of its first occurrence.
        first_line: usize,
    },
    /// A directive with nothing after the colon (or a list with no items).
    Empty {
        /// The key.
        key: String,
    },
    /// A directive whose value is malformed or out of range; `reason` completes the sentence
    /// `directive "key" ...`.
    Invalid {
        /// The key.
        key: String,
        /// The rest of the sentence, e.g. `is not a number`.
        reason: String,
    },
    /// A required directive is absent.
    Missing {
        /// The key.
        key: &'static str,
        /// Why it is needed, or an example.
        hint: &'static str,
    },
}

impl ConfigError {
    pub(crate) fn new(file: &str, line: Option<usize>, kind: ErrorKind) -> Self {
        ConfigError {
            file: file.to_string(),
            line,
            kind,
        }
    }

    pub(crate) fn at(file: &str, line: usize, kind: ErrorKind) -> Self {
        Self::new(file, Some(line), kind)
    }

    pub(crate) fn invalid(file: &str, line: usize, key: &str, reason: impl Into<String>) -> Self {
        Self::at(
            file,
            line,
            ErrorKind::Invalid {
                key: key.to_string(),
                reason: reason.into(),
            },
        )
    }

    pub(crate) fn syntax(file: &str, line: usize, msg: impl Into<String>) -> Self {
        Self::at(file, line, ErrorKind::Syntax(msg.into()))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.kind),
            None => write!(f, "{}: {}", self.file, self.kind),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Io(e) => write!(f, "failed to open configuration: {e}"),
            ErrorKind::Syntax(msg) => f.write_str(msg),
            ErrorKind::Unknown { key, suggestion } => {
                write!(f, "directive \"{key}\" is unknown")?;
                if let Some(s) = suggestion {
                    write!(f, " (did you mean \"{s}\"?)")?;
                }
                Ok(())
            }
            ErrorKind::Duplicate { key, first_line } => write!(
                f,
                "directive \"{key}\" is a duplicate (first given on line {first_line})"
            ),
            ErrorKind::Empty { key } => write!(f, "directive \"{key}\" has an empty value"),
            ErrorKind::Invalid { key, reason } => write!(f, "directive \"{key}\" {reason}"),
            ErrorKind::Missing { key, hint } => {
                write!(f, "directive \"{key}\" is missing ({hint})")
            }
        }
    }
}

impl std::error::Error for ConfigError {}
