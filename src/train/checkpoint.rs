//! Checkpoints: `<dir>/epoch-NNNN/` holds the method's files and `state.json` (the record so
//! far); `<dir>/latest` names the newest complete one and is replaced atomically, so a run
//! killed at any moment resumes from its last finished epoch.
use super::record::{RunRecord, write_atomic};
use crate::error::{Error, Result};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use std::path::{Path, PathBuf};

const LATEST: &str = "latest";
const STATE: &str = "state.json";
const LOCK: &str = "LOCK";

/// The lock a run holds on its checkpoint folder while it trains (`<dir>/LOCK`, naming the
/// process): a second run on the same folder would delete the first one's epoch folders, so it
/// gets an [`Error::Checkpoint`] naming the holder instead. A lock left by a process that no longer
/// runs (killed) is taken over. Released when dropped.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
}

impl Lock {
    /// Takes the lock on `root` (creating the folder).
    pub fn acquire(root: &Path) -> Result<Lock> {
        use std::io::Write;
        std::fs::create_dir_all(root).map_err(Error::io(root))?;
        let path = root.join(LOCK);
        for _ in 0..2 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path).ok().and_then(|t| t.trim().parse::<u32>().ok());
                    match holder {
                        Some(pid) if pid != std::process::id() && process_alive(pid) => {
                            return Err(Error::Checkpoint { path: root.to_path_buf(), reason: format!("in use by process {pid}, which is training into it; wait for it, stop it, or use another checkpoint folder") });
                        }
                        Some(pid) if pid == std::process::id() => {
                            return Err(Error::Checkpoint { path: root.to_path_buf(), reason: "in use by another run of this process; give each run its own checkpoint folder".into() });
                        }
                        // the holder is gone (killed part-way): take the lock over
                        _ => {
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => return Err(Error::io(&path)(e)),
            }
        }
        Err(Error::Checkpoint { path: root.to_path_buf(), reason: "could not take the folder's lock".into() })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether process `pid` runs on this machine (Linux: `/proc/PID`; elsewhere assumed alive, so a
/// stale lock there is removed by hand).
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") { Path::new(&format!("/proc/{pid}")).exists() } else { true }
}

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
    kill_point();
    for entry in std::fs::read_dir(root).map_err(Error::io(root))?.flatten() {
        let n = entry.file_name().to_string_lossy().into_owned();
        if n.starts_with("epoch-") && n != name {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// Test hook for the kill-and-resume suite (`tests/kill_resume.rs`): with
/// `DISTILLERY_KILL_AFTER_CHECKPOINTS=k`, the process SIGKILLs itself right after committing its
/// k-th checkpoint (counted over every run in the process), before the older one is removed — a
/// kill at an exact point instead of a race with a fast run.
fn kill_point() {
    static SAVED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let Some(k) = std::env::var("DISTILLERY_KILL_AFTER_CHECKPOINTS").ok().and_then(|v| v.parse::<usize>().ok()) else { return };
    if SAVED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == k {
        // SAFETY: kill(2) on our own pid; SIGKILL ends the process here
        #[cfg(unix)]
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
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

fn ckpt_err(path: &Path) -> impl FnOnce(burn::store::RecordError) -> Error + '_ {
    move |e| Error::Checkpoint { path: path.to_path_buf(), reason: e.to_string() }
}

/// Saves a module's parameters as `dir/file` (burnpack).
pub fn save_module<M: Module + Clone>(module: &M, dir: &Path, file: &str) -> Result<()> {
    let path = dir.join(file);
    module.clone().save_file(&path).map_err(ckpt_err(&path))
}

/// Loads `dir/file` into a module of the same structure.
pub fn load_module<M: Module>(module: M, dir: &Path, file: &str) -> Result<M> {
    let path = dir.join(file);
    module.try_load_file(&path).map_err(ckpt_err(&path))
}

/// Saves an optimiser's state as `dir/file`.
pub fn save_optim(optim: &ModuleOptimizer, dir: &Path, file: &str) -> Result<()> {
    let path = dir.join(file);
    optim.save(&path).map_err(ckpt_err(&path))
}

/// Restores an optimiser's state from `dir/file` in place.
pub fn load_optim(optim: &mut ModuleOptimizer, dir: &Path, file: &str) -> Result<()> {
    let path = dir.join(file);
    let taken = std::mem::replace(optim, burn::optim::SgdConfig::new().init());
    *optim = taken.load(&path).map_err(ckpt_err(&path))?;
    Ok(())
}
