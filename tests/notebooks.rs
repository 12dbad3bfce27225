//! Runs every `notebooks/*.ipynb` headlessly through one in-process evcxr context (profile
//! `Smoke` unless `DISTILLERY_PROFILE` says otherwise), cell by cell. A compile error, a panic
//! or an `Err` surfaced by `?` fails the run with the notebook, the cell index and the message;
//! every notebook must produce at least one inline figure (a PNG output). Each code cell's
//! metadata gets the digest of its source and the plot style version its outputs were made with
//! (`tests/notebook_outputs.rs` fails on a committed cell whose source or style moved on). Executed copies are written to
//! `target/notebooks/`; with `NOTEBOOKS_WRITE_BACK=1` the outputs are written into the
//! notebooks themselves (how the committed outputs are made, with `DISTILLERY_PROFILE=cpu`).
//!
//! One context serves all notebooks (`:clear` between them), so the crate is compiled once per
//! run; `EVCXR_TMPDIR` persists under `target/` so later runs reuse the build.
//! `NOTEBOOKS_DEP_FEATURES=tch` runs the notebooks on libtorch (their `:dep` line built with
//! `default-features = false, features = ["tch"]`; see `just notebooks-tch`).
mod common;

use evcxr::CommandContext;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    evcxr::runtime_hook();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return; // `cargo test -- --list` asks harness-less tests for their names
    }
    // `cargo test NAME` passes NAME to every test binary: run only when it selects notebooks
    let filters = common::test_filters(&args);
    if !filters.is_empty() && !filters.iter().any(|f| "notebooks".contains(f.as_str()) || f.contains("ipynb") || f.starts_with("notebook")) {
        println!("notebooks: skipped (filter {filters:?})");
        return;
    }
    match run() {
        Ok(()) => println!("notebooks: ok"),
        Err(e) => {
            eprintln!("notebooks: FAILED\n{e}");
            std::process::exit(1);
        }
    }
}

struct Captured {
    lines: Arc<Mutex<Vec<String>>>,
}

impl Captured {
    fn start(rx: crossbeam_channel::Receiver<String>, echo: &'static str) -> Captured {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in rx {
                if !line.starts_with(MARKER_PREFIX) {
                    println!("{echo}{line}");
                }
                sink.lock().unwrap().push(line);
            }
        });
        Captured { lines }
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap())
    }
    /// Waits (at most `timeout`) for the line `marker`; returns the lines before it and drops
    /// it, keeping what came after. `None` if it never came.
    fn until(&self, marker: &str, timeout: Duration) -> Option<Vec<String>> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut lines = self.lines.lock().unwrap();
                if let Some(at) = lines.iter().position(|l| l == marker) {
                    let before: Vec<String> = lines.drain(..=at).collect();
                    return Some(before[..at].to_vec());
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The line a cell writes to stderr before its own code runs: what precedes it on stderr is the
/// previous cell's, however late it arrived (stderr has a pipe of its own, unordered with the
/// cell's end).
fn stderr_marker(cell: usize) -> String {
    format!("{MARKER_PREFIX}{cell} starts>>")
}

const MARKER_PREFIX: &str = "<<distillery notebook test: cell ";

/// `source` with the marker's `eprintln!` after its leading `:` commands and comments.
fn with_marker(source: &str, cell: usize) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let at = lines.iter().position(|l| !(l.trim().is_empty() || l.trim_start().starts_with(':') || l.trim_start().starts_with("//"))).unwrap_or(lines.len());
    let mut out: Vec<String> = lines[..at].iter().map(|l| l.to_string()).collect();
    out.push(format!("eprintln!(\"{}\");", stderr_marker(cell)));
    out.extend(lines[at..].iter().map(|l| l.to_string()));
    out.join("\n")
}

/// Fails with the stderr a cell wrote (an `Err` surfaced by `?`, or a warning), if any.
fn check_stderr(lines: &[String], failed: impl Fn(String) -> String) -> Result<(), String> {
    let text: Vec<&str> = lines.iter().map(String::as_str).filter(|l| !l.trim().is_empty()).collect();
    if text.is_empty() { Ok(()) } else { Err(failed(format!("the cell wrote to stderr (an `Err` surfaced by `?`, or a warning):\n{}", text.join("\n")))) }
}

fn cell_source(cell: &Value) -> String {
    match &cell["source"] {
        Value::Array(parts) => parts.iter().filter_map(|p| p.as_str()).collect(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

fn lines_json(text: &str) -> Value {
    let mut parts: Vec<String> = text.split_inclusive('\n').map(String::from).collect();
    if parts.is_empty() {
        parts.push(String::new());
    }
    json!(parts)
}

/// The features a notebook's `:dep distillery = { …, features = [..] }` line asks for.
fn dep_features(path: &Path) -> Vec<String> {
    let notebook: Value = std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let sources: Vec<String> = notebook["cells"].as_array().map(|cells| cells.iter().map(cell_source).collect()).unwrap_or_default();
    let Some(line) = sources.iter().flat_map(|s| s.lines()).find(|l| l.contains(":dep distillery")) else { return Vec::new() };
    let Some(list) = line.split("features = [").nth(1).and_then(|rest| rest.split(']').next()) else { return Vec::new() };
    list.split(',').map(|f| f.trim().trim_matches('"').to_string()).filter(|f| !f.is_empty()).collect()
}

/// The features of a notebook's `:dep` line that this test binary was not built with.
fn missing_features(path: &Path) -> Vec<String> {
    let compiled = |feature: &str| match feature {
        "remote" => cfg!(feature = "remote"),
        "remote-server" => cfg!(feature = "remote-server"),
        "tch" => cfg!(feature = "tch"),
        "cuda" => cfg!(feature = "cuda"),
        "flex" => cfg!(feature = "flex"),
        _ => false,
    };
    dep_features(path).into_iter().filter(|f| !compiled(f)).collect()
}

/// The `:dep distillery` line every notebook of this run is evaluated with, if not its own:
/// with `NOTEBOOKS_DEP_FEATURES` (comma-separated) set, those features alone — the one-line
/// switch a reader makes to run a notebook on libtorch (`NOTEBOOKS_DEP_FEATURES=tch`, with
/// `LIBTORCH` and `LD_LIBRARY_PATH` exported as for `just build-tch`); else, when some notebook
/// asks for extra features (06-scale-out: `remote-server`), every notebook with the union of
/// them, so that evcxr builds distillery and burn once, not once per feature set (a second
/// build with `remote-server` took 10 of the suite's minutes).
fn shared_dep_line(notebooks: &[PathBuf]) -> Option<String> {
    let quoted = |list: Vec<String>| list.iter().map(|f| format!("\"{f}\"")).collect::<Vec<_>>().join(", ");
    if let Ok(features) = std::env::var("NOTEBOOKS_DEP_FEATURES") {
        let list = features.split(',').map(|f| f.trim().to_string()).collect();
        return Some(format!(":dep distillery = {{ path = \"..\", default-features = false, features = [{}] }}", quoted(list)));
    }
    let mut union: Vec<String> = notebooks.iter().flat_map(|p| dep_features(p)).collect();
    union.sort();
    union.dedup();
    (!union.is_empty()).then(|| format!(":dep distillery = {{ path = \"..\", features = [{}] }}", quoted(union)))
}

/// `source` with its `:dep distillery = …` line replaced by `dep` (when given).
fn with_dep_line(source: &str, dep: Option<&str>) -> String {
    let Some(dep) = dep else { return source.to_string() };
    source.lines().map(|l| if l.trim_start().starts_with(":dep distillery") { dep } else { l }).collect::<Vec<_>>().join("\n")
}

/// `path` as seen from `from` (`../../shared/datasets`), both absolute.
fn relative_to(path: &Path, from: &Path) -> PathBuf {
    let (a, b): (Vec<_>, Vec<_>) = (path.components().collect(), from.components().collect());
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out: PathBuf = b[common..].iter().map(|_| "..").collect();
    out.extend(&a[common..]);
    out
}

fn run() -> Result<(), String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = manifest.join("notebooks");
    let mut notebooks: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ipynb"))
        .collect();
    notebooks.sort();
    if let Ok(only) = std::env::var("NOTEBOOKS_ONLY") {
        notebooks.retain(|p| p.to_string_lossy().contains(&only));
    }
    if notebooks.is_empty() {
        return Err(format!("no notebooks under {}", dir.display()));
    }
    // a notebook whose `:dep` asks for a feature this test binary was built without is run by
    // the build that has it (the README's test command has `--features remote-server`, which
    // 06-scale-out needs)
    notebooks.retain(|p| match missing_features(p) {
        missing if missing.is_empty() => true,
        missing => {
            println!("== {}: skipped, needs `cargo test --features {}`", p.file_name().unwrap().to_string_lossy(), missing.join(","));
            false
        }
    });
    let dep = shared_dep_line(&notebooks);
    if let Some(line) = &dep {
        println!("every notebook with `{line}`");
    }
    // SAFETY (edition 2024 set_var): single-threaded here, before any context or thread starts.
    unsafe {
        std::env::set_var("DISTILLERY_PROFILE", std::env::var("DISTILLERY_PROFILE").unwrap_or_else(|_| "smoke".into()));
        // relative to notebooks/ (where the cells run), so that committed outputs name no folder of
        // the machine that made them
        let root = common::data_root().path().canonicalize().map_err(|e| e.to_string())?;
        std::env::set_var("DISTILLERY_DATA", relative_to(&root, &dir.canonicalize().map_err(|e| e.to_string())?));
        let tmp = std::env::var("EVCXR_TMPDIR").map(PathBuf::from).unwrap_or_else(|_| manifest.join("target/evcxr-notebooks"));
        std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
        std::env::set_var("EVCXR_TMPDIR", tmp);
    }
    std::env::set_current_dir(&dir).map_err(|e| e.to_string())?;
    let out_dir = manifest.join("target/notebooks");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let write_back = std::env::var("NOTEBOOKS_WRITE_BACK").is_ok_and(|v| v == "1");

    let total = Instant::now();
    let (mut ctx, outputs) = CommandContext::new().map_err(|e| format!("starting evcxr: {e}"))?;
    let stdout = Captured::start(outputs.stdout, "    │ ");
    let stderr = Captured::start(outputs.stderr, "    ! ");
    ctx.execute(":preserve_vars_on_panic 0").map_err(|e| e.to_string())?;
    let mut report = Vec::new();
    for path in &notebooks {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let started = Instant::now();
        println!("== {name}");
        ctx.execute(":clear").map_err(|e| format!("{name}: :clear failed: {e}"))?;
        let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
        let mut nb: Value = serde_json::from_str(&text).map_err(|e| format!("{name}: not a notebook: {e}"))?;
        let mut figures = 0usize;
        let mut count = 0usize;
        let cells = nb["cells"].as_array_mut().ok_or_else(|| format!("{name}: no cells"))?;
        // the previous code cell's index and source, whose stderr is read at the next marker
        let mut previous: Option<(usize, String)> = None;
        let failure = |index: usize, source: &str, msg: String| format!("{name}, cell {index}: {msg}\n--- cell source ---\n{source}");
        for (index, cell) in cells.iter_mut().enumerate() {
            if cell["cell_type"] != "code" {
                continue;
            }
            count += 1;
            let source = cell_source(cell);
            let t0 = Instant::now();
            let result = ctx.execute(&with_marker(&with_dep_line(&source, dep.as_deref()), count));
            let out = stdout.take();
            let fail = |msg: String| failure(index, &source, msg);
            let outputs = match result {
                Err(e) => return Err(fail(format!("{e}{}", stderr.take().iter().map(|l| format!("\n{l}")).collect::<String>()))),
                Ok(o) => o,
            };
            let before = stderr.until(&stderr_marker(count), Duration::from_secs(30)).ok_or_else(|| fail("its stderr marker never arrived".into()))?;
            if let Some((at, text)) = &previous {
                check_stderr(&before, |msg| failure(*at, text, msg))?;
            }
            previous = Some((index, source.clone()));
            let mut cell_outputs = Vec::new();
            if !out.is_empty() {
                cell_outputs.push(json!({"output_type": "stream", "name": "stdout", "text": lines_json(&(out.join("\n") + "\n"))}));
            }
            let mut data = serde_json::Map::new();
            for (mime, content) in &outputs.content_by_mime_type {
                if mime == "image/png" {
                    figures += 1;
                    data.insert(mime.clone(), json!(content.trim())); // base64, one string
                } else {
                    data.insert(mime.clone(), lines_json(content));
                }
            }
            if !data.is_empty() {
                cell_outputs.push(json!({"output_type": "display_data", "data": data, "metadata": {}}));
            }
            cell["outputs"] = json!(cell_outputs);
            cell["execution_count"] = json!(count);
            // what these outputs were made from (tests/notebook_outputs.rs checks it)
            cell["metadata"]["distillery"] = json!({"source": common::source_digest(&source), "style": distillery::plot::STYLE_VERSION});
            println!("   cell {index}: {:.1}s", t0.elapsed().as_secs_f64());
        }
        // the last cell's stderr: everything before a final marker
        ctx.execute(&format!("eprintln!(\"{}\");", stderr_marker(0))).map_err(|e| format!("{name}: the closing marker: {e}"))?;
        let last = stderr.until(&stderr_marker(0), Duration::from_secs(30)).ok_or_else(|| format!("{name}: the closing stderr marker never arrived"))?;
        if let Some((at, text)) = &previous {
            check_stderr(&last, |msg| failure(*at, text, msg))?;
        }
        if figures == 0 {
            return Err(format!("{name}: no cell produced an inline figure"));
        }
        let executed = serde_json::to_string_pretty(&nb).map_err(|e| e.to_string())? + "\n";
        std::fs::write(out_dir.join(&name), &executed).map_err(|e| e.to_string())?;
        if write_back {
            std::fs::write(path, &executed).map_err(|e| e.to_string())?;
        }
        let secs = started.elapsed().as_secs_f64();
        println!("== {name}: {count} code cells, {figures} figure outputs, {secs:.0}s");
        report.push(format!("{name}: {count} cells, {figures} figures, {secs:.0}s"));
    }
    println!("notebooks ({:.0}s total):\n  {}", total.elapsed().as_secs_f64(), report.join("\n  "));
    Ok(())
}
