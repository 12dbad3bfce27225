//! One typed error for the whole crate: every variant names the file, field or value at fault.
use std::path::PathBuf;

/// Everything that can go wrong in distillery, with enough context to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A data file exists but its content is not what the format requires.
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    /// A dataset was asked for but its files are not under the data root.
    #[error(
        "dataset `{dataset}` not found under {root}: expected {expected}. \
         Run `just data` (or `tools/fetch-data.sh {root}`) to fetch MNIST and Fashion-MNIST, \
         or point --data / DISTILLERY_DATA at your copy"
    )]
    MissingData { dataset: String, root: PathBuf, expected: String },
    /// A configuration value is out of its valid range.
    #[error("invalid `{field}` = {value}: {reason}")]
    Invalid { field: String, value: String, reason: String },
    /// A loss became NaN or infinite; training stops.
    #[error("loss `{loss}` became {value} at epoch {epoch}, step {step} (run `{run}`); lower the learning rate or check the inputs")]
    NonFinite { run: String, loss: String, value: f64, epoch: usize, step: usize },
    /// Filesystem failure, with the path involved.
    #[error("{path}: {source}")]
    Io { path: PathBuf, #[source] source: std::io::Error },
    /// A record, sweep or other JSON file could not be serialised.
    #[error("{path}: could not write JSON: {reason}")]
    Json { path: PathBuf, reason: String },
    /// A checkpoint could not be written, read back or reused.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    /// The run was cancelled (by a job handle or a step limit); the last checkpoint is kept.
    #[error("run `{run}` cancelled after epoch {epoch}, step {step}")]
    Cancelled { run: String, epoch: usize, step: usize },
    /// A tensor's shape does not fit what it is given to (a teacher built for other images or
    /// another number of classes, a plot fed the wrong array).
    #[error("{what}: expected shape {expected}, got {got}")]
    Shape { what: String, expected: String, got: String },
    /// A weight file (PyTorch `.pth`, `.safetensors`) does not fit the network it is loaded into:
    /// the tensor's key (in the file's own naming) and what is wrong, shapes included.
    #[error("{path}: tensor `{key}`: {reason}")]
    Weights { path: PathBuf, key: String, reason: String },
    /// A background run panicked; the message is the panic's.
    #[error("run `{run}` panicked: {message}")]
    Panicked { run: String, message: String },
    /// A remote device could not be used: the server's address, what kind of failure, and why.
    #[error("remote device {url}: {kind}: {reason}")]
    Remote { url: String, kind: RemoteFailure, reason: String },
}

/// Why a remote device could not be used ([`Error::Remote`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteFailure {
    /// Nothing answered at the address (no server, wrong port, network down).
    Unreachable,
    /// The server refused the token (none given, or a different one).
    Unauthorized,
    /// The server did not answer within the time allowed.
    Timeout,
    /// The server does not host the device index asked for.
    NoSuchDevice,
    /// The server speaks another protocol version, or the handshake broke off.
    Protocol,
    /// The address or the feature set cannot work (not `ws://…`, `remote` not compiled in).
    Setup,
}

impl std::fmt::Display for RemoteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RemoteFailure::Unreachable => "unreachable",
            RemoteFailure::Unauthorized => "unauthorized",
            RemoteFailure::Timeout => "timed out",
            RemoteFailure::NoSuchDevice => "no such device",
            RemoteFailure::Protocol => "protocol mismatch",
            RemoteFailure::Setup => "cannot connect",
        })
    }
}

/// Crate-wide result.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(field: impl Into<String>, value: impl std::fmt::Display, reason: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), value: value.to_string(), reason: reason.into() }
    }
    /// Shorthand for [`Error::Format`].
    pub fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Format { path: path.into(), reason: reason.into() }
    }
    /// Shorthand for [`Error::Shape`] (shapes printed as `[a, b, …]`).
    pub fn shape(what: impl Into<String>, expected: impl std::fmt::Debug, got: impl std::fmt::Debug) -> Self {
        Error::Shape { what: what.into(), expected: format!("{expected:?}"), got: format!("{got:?}") }
    }
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

/// Checks a condition on a config value, returning [`Error::Invalid`] when it fails.
pub fn ensure(ok: bool, field: &str, value: impl std::fmt::Display, reason: impl Into<String>) -> Result<()> {
    if ok { Ok(()) } else { Err(Error::invalid(field, value, reason)) }
}
