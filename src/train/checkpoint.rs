//! Checkpoints: `<dir>/epoch-NNNN/` holds the method's files and `state.json` (the record so
//! far); `<dir>/latest` names the newest complete one and is replaced atomically, so a run
//! killed at any moment resumes from its last finished epoch.
use super::record::{write_atomic, RunRecord};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

const LATEST: &str = "latest";
const STATE: &str = "state.json";

/// A folder the method writes its models and optimisers into.
pub fn epoch_dir(root: &Path, epoch: usize) -> PathBuf {
    root.join(format!("epoch-{epoch:04}"))
}

/// Saves a checkpoint after `record.epochs.len()` epochs: `save_method` fills the folder, then
/// the state is written and `latest` flipped to it; older checkpoints are removed.
pub fn save(root: &Path, record: &RunRecord, save_method: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = epoch_dir(root, record.epochs.len());
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(Error::io(&dir))?;
    }
    std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
    save_method(&dir)?;
    record.save(&dir.join(STATE))?;
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    write_atomic(&root.join(LATEST), name.as_bytes())?;
    for entry in std::fs::read_dir(root).map_err(Error::io(root))?.flatten() {
        let n = entry.file_name().to_string_lossy().into_owned();
        if n.starts_with("epoch-") && n != name {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// The newest complete checkpoint: its folder and the record it saved. `None` if there is none.
pub fn latest(root: &Path) -> Result<Option<(PathBuf, RunRecord)>> {
    let pointer = root.join(LATEST);
    if !pointer.is_file() {
        return Ok(None);
    }
    let name = std::fs::read_to_string(&pointer).map_err(Error::io(&pointer))?;
    let dir = root.join(name.trim());
    let state = dir.join(STATE);
    if !state.is_file() {
        return Err(Error::Checkpoint { path: state, reason: "`latest` points to a checkpoint without state.json".into() });
    }
    Ok(Some((dir, RunRecord::load(&state)?)))
}
