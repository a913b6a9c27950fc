//! Exit codes and the one-line failures that carry them.
//!
//! The table is part of the command's interface (scripts branch on it); codes are only ever
//! added. It is printed at the end of `ddrive --help`.

use std::fmt;
use std::process::ExitCode;

/// Why the command failed, as an exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Any failure without a code of its own.
    Failure = 1,
    /// The daemon does not answer (not started, or it died).
    NotRunning = 3,
    /// A key that is not 32 bytes of hex (or a key file that is not 32 bytes).
    BadKey = 4,
    /// The path is not in the drive.
    NotFound = 5,
    /// The drive (or checkout) cannot be written from here.
    ReadOnly = 6,
    /// The daemon did not answer within the call's deadline.
    Timeout = 7,
    /// Ctrl-C (or SIGTERM) stopped a long command; what it finished is kept.
    Interrupted = 130,
}

/// The exit code table for `--help`.
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    failure (any error without a code below)
  2    bad usage (unknown command or flag, missing argument)
  3    the ddrive daemon is not running (start it with `ddrive start`)
  4    bad key (keys are 32 bytes of hex, or hyper://<hex>)
  5    the path is not in the drive
  6    the drive is read-only (created elsewhere, or a --version checkout)
  7    the daemon did not answer in time
  130  interrupted (Ctrl-C); import/export resume on the next run

With --json, short commands print one JSON document on stdout; import and export print JSON
Lines, each with a \"message_type\": \"status\" (progress), then one \"summary\". A failure
prints {\"message_type\":\"error\",\"code\":N,\"message\":\"...\"} on stderr.";

impl Exit {
    pub(crate) fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

/// A failure with its exit code and the one line a person reads.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) exit: Exit,
    pub(crate) message: String,
}

/// A [`Fail`] as an error.
pub(crate) fn fail(exit: Exit, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Fail {
        exit,
        message: message.into(),
    })
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Fail {}

/// The message every command prints when no daemon answers.
pub(crate) const NOT_RUNNING: &str =
    "The ddrive daemon is not running. Start it with `ddrive start`.";

/// The exit code of an error: the first [`Fail`] in its chain, else [`Exit::Failure`].
pub(crate) fn exit_of(e: &anyhow::Error) -> Exit {
    e.chain()
        .find_map(|c| c.downcast_ref::<Fail>().map(|f| f.exit))
        .unwrap_or(Exit::Failure)
}

/// A gRPC failure as a person reads it; `what` names the operation and path.
pub(crate) fn from_status(status: tonic::Status, what: &str) -> anyhow::Error {
    use tonic::Code;
    let message = status.message();
    match status.code() {
        Code::NotFound => fail(
            Exit::NotFound,
            format!("{what}: no such file or directory in the drive"),
        ),
        Code::PermissionDenied => fail(
            Exit::ReadOnly,
            format!("{what}: the drive is read-only here ({message})"),
        ),
        Code::DeadlineExceeded => fail(
            Exit::Timeout,
            format!("{what}: the ddrive daemon did not answer in time"),
        ),
        // A transport failure (nothing listens, or the daemon died mid-call) carries its
        // cause; an UNAVAILABLE the daemon itself sends does not.
        Code::Unavailable | Code::Unknown if std::error::Error::source(&status).is_some() => {
            fail(Exit::NotRunning, NOT_RUNNING)
        }
        Code::Cancelled if message.contains("connection") => fail(Exit::NotRunning, NOT_RUNNING),
        Code::Unauthenticated => fail(
            Exit::Failure,
            format!(
                "{what}: the daemon refused the token in config.json (is it another daemon's?)"
            ),
        ),
        _ => fail(Exit::Failure, format!("{what}: {message}")),
    }
}
