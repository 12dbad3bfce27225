//! A killed run of every method resumes to the result of an uninterrupted one.
//!
//! Each CLI job (smoke sizes) runs once to the end; then again in a fresh folder, SIGKILLed right
//! after its k-th checkpoint is committed (`DISTILLERY_KILL_AFTER_CHECKPOINTS=k`: the process
//! kills itself with SIGKILL there, so the kill point is exact, not a race with a fast run),
//! restarted, and compared: every record's per-epoch losses and metrics, and the bytes of every
//! final checkpoint's weights (the optimiser state shows in the epochs trained after the kill). Every run here is deterministic (seeded data
//! order, augmentation, dropout and masks; the RNG state is checkpointed), so they must be equal.
//! The DSA condensation's kill test (killed from outside, part-way) is in `tests/cli.rs`.
mod common;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

fn job(args: &[&str], out: &Path, kill_after: Option<usize>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_distillery"));
    command.args(args).arg("--data").arg(common::data_root().path()).arg("--out").arg(out);
    command.env_remove("DISTILLERY_KILL_AFTER_CHECKPOINTS");
    if let Some(k) = kill_after {
        command.env("DISTILLERY_KILL_AFTER_CHECKPOINTS", k.to_string());
    }
    command.output().unwrap()
}

/// Every record's per-epoch losses and metrics (not its times), by file name.
fn records(out: &Path) -> BTreeMap<String, serde_json::Value> {
    let dir = out.join("records");
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
        let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap()).unwrap();
        let epochs: Vec<_> = record["epochs"].as_array().unwrap().iter().map(|e| (e["epoch"].clone(), e["lr"].clone(), e["losses"].clone(), e["metrics"].clone())).collect();
        all.insert(entry.file_name().to_string_lossy().into_owned(), serde_json::json!(epochs));
    }
    all
}

/// The tensor bytes of every weight file of every final checkpoint (`model*.bpk`, after burn's
/// header, whose parameter ids are drawn afresh by every process), by path under `ckpt/`.
fn weights(out: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, root: &Path, into: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, into);
            } else if path.extension().is_some_and(|e| e == "bpk") {
                // optimiser files hold their tensors keyed, and so ordered, by those ids
                if !path.file_name().unwrap().to_string_lossy().starts_with("optim") {
                    into.insert(path.strip_prefix(root).unwrap().display().to_string(), tensors(&std::fs::read(&path).unwrap()).to_vec());
                }
            }
        }
    }
    let mut all = BTreeMap::new();
    walk(&out.join("ckpt"), &out.join("ckpt"), &mut all);
    all
}

/// The data section of a burn `.bpk` file: after the magic `NRUB`, a 2-byte version and a
/// little-endian u32 header length, the header.
fn tensors(bpk: &[u8]) -> &[u8] {
    assert_eq!(&bpk[..4], b"NRUB", "not a burn record");
    let header = u32::from_le_bytes(bpk[6..10].try_into().unwrap()) as usize;
    &bpk[10 + header..]
}

/// The checkpoint folders (`ckpt/NAME-digest`) that exist, by the name before the digest.
fn stages(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out.join("ckpt")).into_iter().flatten().flatten().map(|e| e.file_name().to_string_lossy().rsplit_once('-').map(|(n, _)| n.to_string()).unwrap_or_default()).collect();
    names.sort();
    names
}

/// Runs `args` to the end, then, for each `(k, stages)`, kills a fresh run after its k-th
/// checkpoint (checking which checkpoint folders exist then: the stage it died in), restarts it
/// and compares it with the uninterrupted run.
fn kills_resume_to_the_same_result(name: &str, args: &[&str], kills: &[(usize, &[&str])]) {
    let whole = common::tmp_dir(&format!("kill-{name}-whole"));
    let done = job(args, &whole, None);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let (expected_records, expected_weights) = (records(&whole), weights(&whole));
    assert!(!expected_records.is_empty() && !expected_weights.is_empty(), "{name}: nothing to compare");
    for &(k, at) in kills {
        let out = common::tmp_dir(&format!("kill-{name}-{k}"));
        let killed = job(args, &out, Some(k));
        assert_eq!(killed.status.signal(), Some(9), "{name}: not killed after checkpoint {k} (it has fewer?): {}", String::from_utf8_lossy(&killed.stdout));
        assert_eq!(stages(&out), at.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{name}: the checkpoint folders when killed after checkpoint {k}");
        let resumed = job(args, &out, None);
        let stdout = String::from_utf8_lossy(&resumed.stdout);
        assert!(resumed.status.success(), "{name} after kill {k}: {stdout}\n{}", String::from_utf8_lossy(&resumed.stderr));
        assert!(stdout.contains("resum"), "{name}: the restart after checkpoint {k} resumed nothing: {stdout}");
        assert_eq!(records(&out), expected_records, "{name}: records after a kill at checkpoint {k}");
        let got = weights(&out);
        assert_eq!(got.keys().collect::<Vec<_>>(), expected_weights.keys().collect::<Vec<_>>(), "{name}: checkpoint files after a kill at checkpoint {k}");
        for (file, bytes) in &expected_weights {
            assert!(&got[file] == bytes, "{name}: {file} differs after a kill at checkpoint {k}");
        }
    }
}

#[test]
fn supervised_and_kd_resume_after_a_kill() {
    // checkpoints: teacher 1–2, student alone 3–4, student + KD 5–6
    let args = ["--profile", "smoke", "--epochs", "2", "--dataset", "fashion-mnist"];
    kills_resume_to_the_same_result("kd", &args, &[(1, &["teacher"]), (5, &["kd", "student", "teacher"])]);
}

#[test]
fn mgd_resumes_after_a_kill() {
    // checkpoints: teacher 1–2, then each student row 2 each (student, FitNet, KD, MGD, MGD + KD)
    let args = ["mgd", "--profile", "smoke", "--epochs", "2", "--dataset", "fashion-mnist"];
    kills_resume_to_the_same_result("mgd", &args, &[(1, &["mgd-teacher"]), (9, &["mgd-fitnet", "mgd-kd", "mgd-mgd", "mgd-student", "mgd-teacher"])]);
}

#[test]
fn okdcr_resumes_after_a_kill() {
    let args = ["okdcr", "--profile", "smoke", "--epochs", "3", "--dataset", "fashion-mnist", "--methods", "okdcr"];
    kills_resume_to_the_same_result("okdcr", &args, &[(1, &["okdcr"]), (2, &["okdcr"])]);
}

#[test]
fn mksmt_resumes_after_a_kill() {
    // checkpoint 1 is the pretraining's (one smoke epoch, read back whole on a restart), 2–4 the
    // fine-tune's, where the kills land; both steps of the
    // two-step training run on every batch, so any epoch boundary is in both
    let args = ["mksmt", "--profile", "smoke", "--epochs", "3", "--dataset", "fashion-mnist", "--rows", "mksmt", "--temperatures", "none"];
    kills_resume_to_the_same_result("mksmt", &args, &[(2, &["mksmt", "mksmt-pretrain"]), (3, &["mksmt", "mksmt-pretrain"])]);
}

#[test]
fn gan_kd_resumes_after_a_kill_in_each_stage() {
    // checkpoints: the GAN 1–2, fold teachers 3–6 (2 folds × 2 epochs), the student 7–8
    let args = ["gan-kd", "--profile", "smoke", "--epochs", "2", "--gan-epochs", "2", "--folds", "2", "--dataset", "fashion-mnist", "--methods", "gan-kd"];
    kills_resume_to_the_same_result("gan-kd", &args, &[(1, &["gan"]), (3, &["gan", "teachers"]), (7, &["gan", "gan-kd", "teachers"])]);
}
