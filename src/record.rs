//! The record of a run: configuration, backend, per-epoch metrics, wall time, final metrics.
//! Serialised as JSON and always written atomically (temporary file + rename).
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Metrics of one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Mean of each named training loss over the epoch.
    pub losses: BTreeMap<String, f64>,
    /// Evaluation metrics (e.g. `test_acc` in [0, 1]).
    pub metrics: BTreeMap<String, f64>,
    /// Training wall time of the epoch, seconds (evaluation excluded).
    pub seconds: f64,
    /// Training throughput: images per second (steps per second for methods whose steps read
    /// no training batch, such as condensation).
    pub images_per_s: f64,
}

/// Whether a run finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Still training (a live snapshot).
    Running,
    /// All epochs done.
    Completed,
    /// Stopped early by a cancel request; the last checkpoint is usable.
    Cancelled,
}

/// Everything needed to compare and re-plot a run without re-running it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run name (unique within an experiment).
    pub name: String,
    /// Method name, e.g. `kd`.
    pub method: String,
    /// The full configuration (method and training recipe).
    pub config: serde_json::Value,
    /// Compute device, e.g. `flex (CPU)`.
    pub backend: String,
    /// Dataset description.
    pub dataset: String,
    /// Profile name.
    pub profile: String,
    /// Per-epoch metrics, in order.
    pub epochs: Vec<EpochRecord>,
    /// Total wall time, seconds (including evaluation, across resumes).
    pub wall_time_s: f64,
    /// Final metrics (the last epoch's evaluation).
    pub final_metrics: BTreeMap<String, f64>,
    /// Completion status.
    pub status: Status,
}

impl RunRecord {
    /// An empty running record.
    pub fn new(name: &str, method: &str, config: serde_json::Value, backend: String, dataset: String, profile: String) -> RunRecord {
        RunRecord {
            name: name.into(),
            method: method.into(),
            config,
            backend,
            dataset,
            profile,
            epochs: Vec::new(),
            wall_time_s: 0.0,
            final_metrics: BTreeMap::new(),
            status: Status::Running,
        }
    }

    /// The series of one metric or loss over epochs (metrics first, then losses).
    pub fn series(&self, key: &str) -> Vec<(usize, f64)> {
        self.epochs
            .iter()
            .filter_map(|e| e.metrics.get(key).or_else(|| e.losses.get(key)).map(|v| (e.epoch, *v)))
            .collect()
    }

    /// A final metric, if recorded.
    pub fn final_metric(&self, key: &str) -> Option<f64> {
        self.final_metrics.get(key).copied()
    }

    /// Writes the record as pretty JSON, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_json_atomic(path, self)
    }

    /// Reads a record written by [`save`](RunRecord::save).
    pub fn load(path: &Path) -> Result<RunRecord> {
        let bytes = std::fs::read(path).map_err(Error::io(path))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::format(path, format!("not a run record: {e}")))
    }
}

/// Writes `value` as pretty JSON, atomically (see [`write_atomic`]).
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_vec_pretty(value).map_err(|e| Error::Json { path: path.into(), reason: e.to_string() })?;
    write_atomic(path, &json)
}

/// Writes `bytes` to `path` via a temporary file in the same folder and a rename, so a reader
/// never sees a half-written file and a crash leaves the previous version intact.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    // a uniquely named temporary file beside `path` (tempfile), synced, then renamed over it
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(dir).map_err(Error::io(dir))?;
    {
        use std::io::Write;
        tmp.write_all(bytes).map_err(Error::io(tmp.path()))?;
        tmp.as_file().sync_all().map_err(Error::io(tmp.path()))?;
    }
    tmp.persist(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e.error })?;
    Ok(())
}

/// A stable 64-bit digest of `text` as 16 hex digits (FNV-1a: the same on every Rust release and
/// machine, unlike `DefaultHasher`). Names checkpoint folders after the serialised settings they
/// hold, so a toolchain update never orphans them.
pub fn stable_digest(text: &str) -> String {
    format!("{:016x}", fnv1a(FNV_OFFSET, text.as_bytes()))
}

/// FNV-1a's starting value.
pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over `bytes`, continuing from `h` (start from [`FNV_OFFSET`]).
pub(crate) fn fnv1a(h: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(h, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// [`stable_digest`] of `value` serialised as JSON.
///
/// Settings added since these digests were first made stable are left out while they hold their
/// default ([`ADDED_SINCE`]), so settings that do not use them name the same folder as before.
pub fn settings_digest(value: &impl serde::Serialize) -> String {
    // the compact text in field order, as the digests have always hashed it; an added key at its
    // default is cut out of the text (inside a JSON string a quote is escaped, so the pattern
    // `,"key":"default"` can only be a member)
    let mut text = serde_json::to_string(value).unwrap_or_else(|e| format!("unserialisable settings: {e}"));
    for (key, default) in ADDED_SINCE {
        let member = format!("\"{key}\":\"{default}\"");
        text = text.replace(&format!(",{member}"), "").replace(&format!("{member},"), "").replace(&member, "");
    }
    stable_digest(&text)
}

/// `(key, default)` of every setting added to a digested struct since the digests were made
/// stable: at its default it is left out of the digest (and out of a checkpoint's comparison).
pub const ADDED_SINCE: &[(&str, &str)] = &[("optimizer", "Sgd")];

/// Removes every [`ADDED_SINCE`] key that holds its default, at any depth of `value`.
pub fn drop_added_defaults(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|k, v| !ADDED_SINCE.iter().any(|(key, default)| k == key && v.as_str() == Some(default)));
            map.values_mut().for_each(drop_added_defaults);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_added_defaults),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_atomic_writes_of_related_files_never_share_a_temporary() {
        let dir = std::env::temp_dir().join(format!("distillery-atomic-{}", std::process::id()));
        let (json, svg) = (dir.join("a.json"), dir.join("a.svg"));
        std::thread::scope(|s| {
            for k in 0..8 {
                let (json, svg) = (&json, &svg);
                s.spawn(move || {
                    for _ in 0..20 {
                        write_atomic(json, format!("{{\"k\": {k}}}").as_bytes()).unwrap();
                        write_atomic(svg, b"<svg/>").unwrap();
                    }
                });
            }
        });
        assert!(std::fs::read_to_string(&json).unwrap().starts_with("{\"k\": "));
        assert_eq!(std::fs::read_to_string(&svg).unwrap(), "<svg/>");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).filter(|n| n.to_string_lossy().contains(".tmp")).collect();
        assert!(left.is_empty(), "temporaries left behind: {left:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
