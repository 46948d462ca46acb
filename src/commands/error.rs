//! Typed command errors, and the one place that turns them into Redis's exact texts.

use crate::resp::Reply;

/// Why a command failed. [`CmdError::text`] gives the reply line Redis 7.0 sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("ERR DB index is out of range")]
    DbIndexOutOfRange,
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(String),
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpire(String),
    #[error("ERR timeout is not an integer or out of range")]
    TimeoutNotInteger,
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    StringTooLong,
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    /// Any other error; the text includes its code (`ERR ...`, `NOPROTO ...`).
    #[error("{0}")]
    Other(String),
}

impl CmdError {
    /// An `ERR`-prefixed error with a custom message.
    pub fn err(msg: impl std::fmt::Display) -> CmdError {
        CmdError::Other(format!("ERR {msg}"))
    }

    /// The full error line, without the leading `-`.
    pub fn text(&self) -> String {
        self.to_string()
    }

    pub fn into_reply(self) -> Reply {
        Reply::Error(self.text())
    }
}

/// The error code Redis counts in `INFO errorstats`: the first word of the text.
pub fn error_code(text: &str) -> &str {
    text.split(' ').next().unwrap_or("ERR")
}
