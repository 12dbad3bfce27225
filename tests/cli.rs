//! The `distillery` binary: the main job end to end (smoke profile), its outputs, and bad flags.
mod common;
use distillery::train::RunRecord;
use std::process::Command;

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_distillery"))
}

#[test]
fn main_job_runs_and_writes_table_records_and_curves() {
    let out = common::tmp_dir("cli-main");
    let run = cli()
        .args(["--profile", "smoke", "--dataset", "mnist", "--out"])
        .arg(&out)
        .arg("--data")
        .arg(common::data_root().path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("| run | model | params | test acc (%)"), "{stdout}");
    assert!(stdout.contains("data: mnist"), "says which data it used: {stdout}");
    for name in ["teacher", "student", "kd"] {
        let r = RunRecord::load(&out.join("records").join(format!("{name}.json"))).unwrap();
        assert_eq!(r.epochs.len(), 2, "{name}");
        // 10 classes: chance is 10 %; two smoke epochs reach far more when training works
        assert!(r.final_metric("test_acc").unwrap() > 0.3, "{name} learned above chance: {:?}", r.final_metric("test_acc"));
    }
    let svg = std::fs::read_to_string(out.join("kd-test_acc.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("polyline"), "a real plot");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("KD"));
    // KD's gain over the student alone, paired over the smoke profile's two student seeds
    let gain = stdout.lines().find(|l| l.starts_with("| **KD − alone**")).unwrap_or_else(|| panic!("no gain row: {stdout}"));
    assert!(gain.contains("not distinguishable at n = 2") || gain.contains("KD h"), "{gain}");
    assert!(stdout.contains("| over seeds 0–1 |") && summary.contains("| **KD − alone**"), "{stdout}");
    // a second run resumes every finished run from its checkpoint instead of retraining
    let again = cli().args(["--profile", "smoke", "--dataset", "mnist", "--out"]).arg(&out).arg("--data").arg(common::data_root().path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success());
    assert_eq!(stdout.matches("resuming").count(), 5, "the teacher and both students of both seeds: {stdout}");
}

#[test]
fn help_of_every_subcommand_lists_its_flags() {
    let help = |sub: &[&str]| {
        let out = cli().args(sub).arg("--help").output().unwrap();
        assert!(out.status.success(), "{sub:?} --help");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let common = ["--profile", "--data", "--dataset", "--out", "--fresh"];
    let jobs: [(&[&str], &[&str]); 8] = [
        (&[], &["--teacher", "--student", "--temperature", "--alpha", "--epochs", "--seed", "--seeds", "mgd", "dsa", "okdcr", "gan-kd", "mksmt", "serve", "completions"]),
        (&["kd"], &["--teacher", "--student", "--temperature", "--alpha", "--epochs", "--seed"]),
        (&["mgd"], &["--teacher", "--student", "--seed", "--seeds", "--epochs", "--methods", "--teacher-epochs"]),
        (&["okdcr"], &["--peers", "--methods", "--train-per-class", "--crop-pad", "--seeds", "--epochs"]),
        (&["gan-kd"], &["--student", "--teacher", "--temperature", "--methods", "--folds", "--beta", "--smoothing", "--patch", "--gan-epochs", "--train-per-class", "--crop-flip", "--seeds", "--epochs"]),
        (&["mksmt"], &["--backbone", "--rows", "--temperatures", "--pretrained", "--sgd", "--train-per-class", "--pretrain", "--pretrain-epochs", "--finetune-lr", "--seeds", "--epochs"]),
        (&["dsa"], &["--ipc", "--methods", "--iterations", "--init", "--models", "--epochs", "--eval-aug", "--cross-arch", "--cross-ipc", "--seed"]),
        (&["serve"], &["--port", "--bind", "--token-file", "--no-token", "--force", "--devices"]),
    ];
    for (sub, flags) in jobs {
        let text = help(sub);
        let own = if sub == ["serve"] { &[][..] } else { &common[..] };
        for flag in own.iter().chain(flags) {
            assert!(text.contains(flag), "{flag} missing from `{}` --help: {text}", sub.join(" "));
        }
    }
    // the defaults it states are the code's
    use distillery::methods::condense::EvalConfig;
    use distillery::profile::Profile;
    let (gpu, cpu) = (EvalConfig::for_profile(Profile::Gpu).epochs, EvalConfig::for_profile(Profile::Cpu).epochs);
    assert!(help(&["dsa"]).contains(&format!("evaluation epochs [default: gpu {gpu}, cpu {cpu}]")), "--epochs default drifted from EvalConfig");
    let okdcr = distillery::experiment::OkdcrExperiment::new(Profile::Cpu).base.epochs;
    assert!(help(&["okdcr"]).contains(&format!("cpu {okdcr},")), "okdcr's epochs default drifted");
    // shell completions come from the same definition
    let bash = cli().args(["completions", "bash"]).output().unwrap();
    assert!(bash.status.success() && String::from_utf8_lossy(&bash.stdout).contains("--gan-epochs"));
}

#[test]
fn a_flag_a_command_does_not_use_or_a_misplaced_subcommand_is_an_error() {
    for args in [&["mgd", "--temperature", "3"][..], &["okdcr", "--teacher", "convnet-3"], &["--rows", "mksmt"], &["--epochs", "1", "dsa"], &["dsa", "--frobnicate", "1"]] {
        let out = cli().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} accepted: {err}");
        let named = args.iter().find(|a| a.starts_with("--") && !["--epochs"].contains(a)).copied().unwrap_or("dsa");
        assert!(err.starts_with("error: ") && err.contains(named), "{args:?}: {err}");
    }
}

#[test]
fn bad_flags_are_clear_errors_not_panics() {
    for (args, needle) in [
        (vec!["--temperature", "0"], "temperature"),
        (vec!["--alpha", "2"], "alpha"),
        (vec!["--epochs", "0"], "epochs"),
        (vec!["--seeds", "0"], "seeds"),
        (vec!["--epochs", "ten"], "--epochs"),
        (vec!["--profile", "huge"], "profile"),
        (vec!["--student", "resnet21"], "resnet.depth"),
        (vec!["--dataset", "imagenet"], "dataset"),
        (vec!["--frobnicate", "1"], "--frobnicate"),
    ] {
        let out = cli().args(["--profile", "smoke", "--dataset", "shapes", "--out", "target/test-tmp/cli-bad"]).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(err.starts_with("error: ") && err.contains(needle) && !err.contains("panicked"), "{args:?}: {err}");
    }
    let out = cli().args(["--profile", "smoke", "--dataset", "mnist", "--data", "/nonexistent"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("just data"));
}

#[test]
fn mgd_command_writes_its_table_and_bars() {
    let out = common::tmp_dir("cli-mgd");
    let run = cli().args(["mgd", "--profile", "smoke", "--dataset", "shapes", "--epochs", "1", "--out"]).arg(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    for method in ["student alone", "FitNet", "Hinton KD", "| MGD |", "MGD + KD"] {
        assert!(stdout.contains(method), "{method} missing: {stdout}");
    }
    assert!(std::fs::read_to_string(out.join("mgd-bars.svg")).unwrap().contains("<svg"));
    // every student row is checkpointed: a rerun reads all five back
    assert_eq!(stdout.matches("(read back)").count(), 0, "{stdout}");
    let again = cli().args(["mgd", "--profile", "smoke", "--dataset", "shapes", "--epochs", "1", "--out"]).arg(&out).output().unwrap();
    let again_out = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success() && again_out.matches("(read back)").count() == 5, "{again_out}");
    let bad = cli().args(["mgd", "--profile", "smoke", "--seeds", "0", "--dataset", "shapes", "--out"]).arg(&out).output().unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("seeds"));
    // --methods picks rows; an unknown row is named, before any training
    let one = cli().args(["mgd", "--profile", "smoke", "--dataset", "shapes", "--epochs", "1", "--methods", "mgd-kd", "--out"]).arg(out.join("one")).output().unwrap();
    let stdout = String::from_utf8_lossy(&one.stdout);
    assert!(one.status.success() && stdout.contains("MGD + KD") && !stdout.contains("FitNet"), "{stdout}");
    let bad = cli().args(["mgd", "--profile", "smoke", "--dataset", "shapes", "--methods", "mgd,dream", "--out"]).arg(&out).output().unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success(), "{stderr}");
    assert!(stderr.contains("dream") && stderr.contains("--methods"), "{stderr}");
    // the teacher trains for its own epochs, the students for theirs
    let longer = out.join("longer");
    let run = cli().args(["mgd", "--profile", "smoke", "--dataset", "shapes", "--epochs", "1", "--teacher-epochs", "2", "--methods", "student", "--out"]).arg(&longer).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let epochs = |file: &str| serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(longer.join("records").join(file)).unwrap()).unwrap()["epochs"].as_array().map_or(0, Vec::len);
    assert_eq!((epochs("teacher.json"), epochs("student-alone-seed0.json")), (2, 1));
    let zero = cli().args(["mgd", "--profile", "smoke", "--dataset", "shapes", "--teacher-epochs", "0", "--out"]).arg(&longer).output().unwrap();
    assert!(String::from_utf8_lossy(&zero.stderr).contains("teacher_epochs"), "{}", String::from_utf8_lossy(&zero.stderr));
}

#[test]
fn dsa_job_writes_table_sets_and_figures_and_reuses_them() {
    let out = common::tmp_dir("cli-dsa");
    let args = ["dsa", "--profile", "smoke", "--dataset", "mnist", "--ipc", "1", "--methods", "random,dc,dsa", "--iterations", "2", "--models", "1", "--epochs", "3", "--cross-arch", "mlp,convnet-3-w8"];
    let run = cli().args(args).arg("--out").arg(&out).arg("--data").arg(common::data_root().path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    // a DSA row with a measured accuracy (one model: no made-up spread) beside the paper's 88.7
    let row = stdout.lines().find(|l| l.starts_with("| mnist | 1 | DSA |")).unwrap_or_else(|| panic!("no DSA row: {stdout}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    let ours: f64 = cells[4].strip_suffix(" (n = 1)").and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("ours: {row}"));
    assert!((0.0..=100.0).contains(&ours) && cells[5] == "88.7", "{row}");
    assert_eq!(stdout.matches("[read back]").count(), 0, "the first run condenses every set: {stdout}");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("DC") && summary.contains("MLP"), "{summary}");
    for f in ["dsa-bars-mnist-ipc1.svg", "dsa-cross-arch-mnist-ipc1.svg", "mnist-DSA-ipc1.svg", "results.json"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    assert_eq!(std::fs::read_dir(out.join("sets")).unwrap().count(), 3);
    // a rerun reads every set back (and their evaluations) instead of condensing again
    let again = cli().args(args).arg("--out").arg(&out).arg("--data").arg(common::data_root().path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success() && stdout.matches("[read back]").count() == 3, "{stdout}");
}

#[test]
fn dsa_bad_flags_are_named() {
    for (args, needle) in [
        (vec!["dsa", "--methods", "random,gan"], "gan"),
        (vec!["dsa", "--ipc", "ten"], "ten"),
        (vec!["dsa", "--dataset", "imagenet"], "imagenet"),
        (vec!["dsa", "--cross-arch", "vgg"], "vgg"),
        (vec!["dsa", "--eval-aug", "nope"], "--eval-aug"),
    ] {
        let run = cli().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn okdcr_command_writes_its_table_and_reads_finished_runs_back() {
    let out = common::tmp_dir("cli-okdcr");
    let args = ["okdcr", "--profile", "smoke", "--dataset", "shapes", "--epochs", "1", "--methods", "1c,dml,okdcr", "--out"];
    let run = cli().args(args).arg(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    for row in ["| 1C |", "| DML |", "| OKDCR |", "Avg (%)", "Ens (%)", "| peer 0 train acc, clean (%) | peer 0 train − test |", "| OKDCR > DML |", "| OKDCR > 1C |"] {
        assert!(stdout.contains(row), "{row} missing: {stdout}");
    }
    // every row measures how far its peer 0 fits the clean training images
    for line in stdout.lines().filter(|l| l.starts_with("| 1C |") || l.starts_with("| OKDCR |")) {
        let train: f64 = line.split('|').nth(5).unwrap().trim().parse().unwrap_or_else(|_| panic!("no clean train accuracy: {line}"));
        assert!((0.0..=100.0).contains(&train), "{line}");
    }
    assert!(std::fs::read_to_string(out.join("okdcr-bars.svg")).unwrap().contains("<svg"));
    // a rerun reads every run back from its checkpoint (nothing trains): same table
    assert_eq!(stdout.matches("(read back)").count(), 0, "{stdout}");
    let again = cli().args(args).arg(&out).output().unwrap();
    assert!(again.status.success());
    let again_out = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again_out.matches("(read back)").count(), 3, "1C, DML and OKDCR read back: {again_out}");
    let table = |s: &str| s.lines().filter(|l| l.starts_with('|')).map(String::from).collect::<Vec<_>>();
    assert_eq!(table(&again_out), table(&stdout));
    assert!(out.join("comparison.json").exists() && out.join("summary.md").exists());
    // --train-per-class cuts the training split (shapes at smoke: 24 per class)
    let few = cli().args(["okdcr", "--profile", "smoke", "--dataset", "shapes", "--epochs", "1", "--methods", "1c", "--train-per-class", "3", "--out"]).arg(&out).output().unwrap();
    let few_out = String::from_utf8_lossy(&few.stdout);
    assert!(few.status.success() && few_out.contains("(30 train"), "{few_out}\n{}", String::from_utf8_lossy(&few.stderr));
    for (flag, value, field) in [("--peers", "convnet-2-w4", "peers"), ("--methods", "dml,abc", "abc"), ("--peers", "convnet-2-w4,nonsense", "nonsense"), ("--train-per-class", "many", "--train-per-class")] {
        let bad = cli().args(["okdcr", "--profile", "smoke", "--dataset", "shapes", flag, value, "--out"]).arg(&out).output().unwrap();
        let err = String::from_utf8_lossy(&bad.stderr);
        assert!(!bad.status.success() && err.contains(field), "{flag} {value}: {err}");
    }
}

#[test]
fn gan_kd_command_writes_its_tables_and_reads_finished_runs_back() {
    let out = common::tmp_dir("cli-gan-kd");
    let args = ["gan-kd", "--profile", "smoke", "--dataset", "shapes", "--epochs", "1", "--methods", "cutout,gan-kd", "--out"];
    let run = cli().args(args).arg(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    for row in ["| Cutout |", "| GAN patch + KD labels |", "test acc (%)", "Fill quality", "Cross-validated teachers", "patch L1 to the true hole"] {
        assert!(stdout.contains(row), "{row} missing: {stdout}");
    }
    assert!(std::fs::read_to_string(out.join("gan-kd-bars.svg")).unwrap().contains("<svg"));
    assert!(stdout.contains("base augmentation: none"), "the smoke recipe has no base augmentation: {stdout}");
    // every row shows its clean training-set accuracy and its train − test gap
    let cutout: Vec<&str> = stdout.lines().find(|l| l.starts_with("| Cutout |")).unwrap().split('|').map(str::trim).collect();
    let (train, gap) = (cutout[4].parse::<f64>(), cutout[5].parse::<f64>());
    assert!(train.is_ok_and(|t| (0.0..=100.0).contains(&t)) && gap.is_ok(), "{cutout:?}");
    let test: f64 = cutout[2].split_whitespace().next().unwrap().parse().unwrap();
    let (train, gap): (f64, f64) = (cutout[4].parse().unwrap(), cutout[5].parse().unwrap());
    assert!((train - test - gap).abs() < 0.011, "the gap is train − test: {cutout:?}");
    assert!(stdout.contains("| train acc, clean (%) | train − test |"), "{stdout}");
    assert_eq!(stdout.matches("(read back)").count(), 0, "{stdout}");
    let again = cli().args(args).arg(&out).output().unwrap();
    assert!(again.status.success());
    let again_out = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again_out.matches("(read back)").count(), 2, "both students read back: {again_out}");
    let table = |s: &str| s.lines().filter(|l| l.starts_with('|')).map(String::from).collect::<Vec<_>>();
    assert_eq!(table(&again_out), table(&stdout), "a rerun reads every run back");
    for (flag, value, field) in [("--beta", "2", "beta"), ("--smoothing", "-1", "smoothing"), ("--folds", "1", "folds"), ("--methods", "cutout,abc", "abc"), ("--patch", "100", "patch"), ("--temperature", "0", "temperature"), ("--crop-flip", "maybe", "crop-flip")] {
        let bad = cli().args(["gan-kd", "--profile", "smoke", "--dataset", "shapes", "--epochs", "1", flag, value, "--out"]).arg(&out).output().unwrap();
        let err = String::from_utf8_lossy(&bad.stderr);
        assert!(!bad.status.success() && err.contains(field), "{flag} {value}: {err}");
    }
}

#[test]
fn main_job_without_data_says_so_and_falls_back_to_shapes_when_it_cannot_fetch() {
    let out = common::tmp_dir("cli-no-data");
    let run = cli().env("DISTILLERY_NO_FETCH", "1").args(["--profile", "smoke", "--epochs", "1", "--data"]).arg(out.join("empty-root")).arg("--out").arg(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("no real data") && stdout.contains("DISTILLERY_NO_FETCH=1") && stdout.contains("data: shapes"), "{stdout}");
    // on shapes the default student is the three-block ConvNet (docs/foundation.md: the
    // one-block one loses to itself under KD there), and KD trains it
    assert!(stdout.contains("| student ConvNet-3 (w4) + KD") && !stdout.contains("ConvNet-1"), "{stdout}");
    // an explicit --student is kept
    let own = cli().env("DISTILLERY_NO_FETCH", "1").args(["--profile", "smoke", "--epochs", "1", "--student", "convnet-1-w4", "--data"]).arg(out.join("empty-root")).arg("--out").arg(out.join("own")).output().unwrap();
    assert!(String::from_utf8_lossy(&own.stdout).contains("| student ConvNet-1 (w4) alone"), "{}", String::from_utf8_lossy(&own.stdout));
}

#[test]
fn mksmt_command_writes_its_tables_and_reads_finished_runs_back() {
    let out = common::tmp_dir("cli-mksmt");
    let root = common::data_root().path().to_path_buf();
    let args = ["mksmt", "--profile", "smoke", "--dataset", "fashion-mnist", "--epochs", "1", "--rows", "baseline,mksmt", "--temperatures", "none", "--data"];
    let run = cli().args(args).arg(&root).arg("--out").arg(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    for row in ["| baseline |", "| MKSMT |", "S3 head (%)", "vertical flip", "train acc, clean (%)", "| MKSMT > baseline |", "fine-tuned a backbone pretrained on fashion-mnist[0,1,3,5,8]", "| claim | Δ (95 % CI) |"] {
        assert!(stdout.contains(row), "{row} missing: {stdout}");
    }
    assert!(std::fs::read_to_string(out.join("mksmt-flips.svg")).unwrap().contains("<svg"));
    assert_eq!(stdout.matches("(read back)").count(), 0, "{stdout}");
    let again = cli().args(args).arg(&root).arg("--out").arg(&out).output().unwrap();
    assert!(again.status.success());
    let again_out = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again_out.matches("(read back)").count(), 2, "baseline and MKSMT read back: {again_out}");
    let table = |s: &str| s.lines().filter(|l| l.starts_with('|')).map(String::from).collect::<Vec<_>>();
    assert_eq!(table(&again_out), table(&stdout), "a rerun reads every run back");
    for (flag, value, field) in [("--rows", "abc", "rows"), ("--temperatures", "0", "temperature"), ("--backbone", "swin-q", "arch"), ("--dataset", "nope", "dataset"), ("--pretrain", "0,x", "--pretrain"), ("--pretrain", "0,1,2,3,4,5,6,7,8,9", "pretrain.classes"), ("--pretrain", "3,12", "pretrain.classes")] {
        let bad = cli().args(["mksmt", "--profile", "smoke", "--epochs", "1", "--temperatures", "none", "--data"]).arg(&root).args([flag, value, "--out"]).arg(&out).output().unwrap();
        let err = String::from_utf8_lossy(&bad.stderr);
        assert!(!bad.status.success() && err.contains(field), "{flag} {value}: {err}");
    }
}

#[test]
fn serve_says_how_to_get_it_or_rejects_bad_flags() {
    let bad = cli().args(["serve", "--port", "99999"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--port"), "{}", String::from_utf8_lossy(&bad.stderr));
    if cfg!(not(feature = "remote-server")) {
        let run = cli().args(["serve", "--port", "0"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success() && stderr.contains("--features remote-server"), "{stderr}");
    }
    // a client that asks for a remote device in a build without the feature gets a typed error
    if cfg!(not(feature = "remote")) {
        use distillery::device::{Device, DeviceExt};
        let err = Device::remote("ws://127.0.0.1:1", None).unwrap_err();
        assert!(matches!(err, distillery::Error::Remote { kind: distillery::RemoteFailure::Setup, .. }) && err.to_string().contains("remote"), "{err}");
    }
}

#[test]
fn a_dsa_job_killed_mid_condensation_resumes_where_its_checkpoint_left_it() {
    let out = common::tmp_dir("cli-dsa-kill");
    let args = ["dsa", "--profile", "smoke", "--dataset", "mnist", "--ipc", "1", "--methods", "dsa", "--iterations", "200", "--models", "1", "--epochs", "1", "--cross-arch", "none"];
    let mut child = cli().args(args).arg("--out").arg(&out).arg("--data").arg(common::data_root().path()).stdout(std::process::Stdio::null()).spawn().unwrap();
    // SIGKILL once the first tenth of the iterations is checkpointed
    let started = std::time::Instant::now();
    let latest = || std::fs::read_dir(out.join("sets")).ok().into_iter().flatten().flatten().map(|e| e.path().join("ckpt/latest")).find(|p| p.exists());
    while latest().is_none() {
        assert!(started.elapsed().as_secs() < 300 && child.try_wait().unwrap().is_none(), "no checkpoint before the job ended or 300 s passed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.join("results.json").exists(), "killed before it finished");
    let again = cli().args(args).arg("--out").arg(&out).arg("--data").arg(common::data_root().path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&again.stderr));
    assert!(stdout.contains("[resumed after block "), "the rerun resumed instead of starting over: {stdout}");
    let set = std::fs::read_dir(out.join("sets")).unwrap().flatten().next().unwrap().path();
    let condensed: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(set.join("condensed.json")).unwrap()).unwrap();
    let losses = condensed.pointer("/record/losses").and_then(|l| l.as_array()).map_or(0, |l| l.len());
    assert_eq!(losses, 200, "every iteration's loss, before and after the kill");
}
