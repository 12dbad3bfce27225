//! The committed notebooks as a reader meets them, without running them (fast: plain JSON).
//!
//! - **Every renderer shows every figure.** Each output is rendered the way JupyterLab renders a
//!   freshly cloned (untrusted) notebook — the richest *safe* MIME type, HTML sanitised, SVG
//!   skipped — and the way a code host or an HTML export does after a sanitiser that drops
//!   `<svg>` elements; every figure output must come out as an `<img>` both ways.
//! - **Outputs cannot go stale.** Every code cell carries the digest of the source its outputs
//!   were made from and the plot style version (`tests/notebooks.rs` writes them); a cell whose
//!   source changed since, or whose figures are of an older style, fails the test naming the
//!   notebook, the cell and the command that re-makes it.
//! - **Conclusions follow from the outputs.** Every decimal number in the closing Markdown cell
//!   appears in some output of the notebook.
//! - **What the outputs say**: no path of the machine that made them, no internal panic text, no
//!   stray `()`; each notebook within the size budget.
mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};

/// Largest committed notebook, outputs included.
const BUDGET_BYTES: usize = 750 * 1024;

/// Notebooks whose outputs predate the current style and cell digests: their figures carry PNG +
/// SVG (converted from the committed SVG, the numbers untouched) but were drawn by the old plot
/// code, so they fail the staleness check until re-run at the `cpu` profile — which the evidence
/// re-runs (issue 29) do with their new regimes. Each entry must still be stale: a re-run
/// notebook has to leave this list.
const AWAITING_RERUN: &[&str] = &["05-dsa.ipynb"];

fn notebooks() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("notebooks");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "ipynb")).collect();
    v.sort();
    assert!(!v.is_empty(), "no notebooks under {}", dir.display());
    v
}

fn load(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn text(v: &Value) -> String {
    match v {
        Value::Array(parts) => parts.iter().filter_map(|p| p.as_str()).collect(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// `(cell index, output)` for every output of every code cell.
fn outputs(nb: &Value) -> Vec<(usize, &Value)> {
    let cells = nb["cells"].as_array().map(|c| c.as_slice()).unwrap_or_default();
    cells.iter().enumerate().flat_map(|(i, c)| c["outputs"].as_array().into_iter().flatten().map(move |o| (i, o))).collect()
}

/// Whether an output holds a figure (an image of any kind, or an SVG inside HTML).
fn is_figure(data: &Value) -> bool {
    ["image/png", "image/svg+xml", "image/jpeg"].iter().any(|m| data.get(*m).is_some()) || text(&data["text/html"]).contains("<svg")
}

/// HTML with every `<svg>…</svg>` element removed, as the sanitisers of JupyterLab (untrusted),
/// GitHub and nbviewer treat inline SVG in HTML.
fn drop_svg(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        out += &rest[..start];
        let end = rest[start..].find("</svg>").map_or(rest.len(), |e| start + e + "</svg>".len());
        rest = &rest[end..];
    }
    out + rest
}

/// The HTML a renderer makes of `data`, choosing by `priority` among the types it may render,
/// sanitising HTML and Markdown (inline SVG dropped); images become `<img>`.
fn render(data: &Value, priority: &[&str]) -> String {
    let Some(mime) = priority.iter().find(|m| data.get(**m).is_some()) else { return String::new() };
    let content = text(&data[*mime]);
    match *mime {
        "text/html" | "text/markdown" => drop_svg(&content),
        m if m.starts_with("image/") => format!("<img src=\"data:{m};base64,…\">"),
        _ => format!("<pre>{content}</pre>"),
    }
}

/// JupyterLab 4 on an untrusted notebook: its renderer order, without the unsafe renderers
/// (JavaScript, SVG).
const JUPYTERLAB_UNTRUSTED: &[&str] = &["text/html", "text/markdown", "text/latex", "image/bmp", "image/png", "image/jpeg", "image/gif", "image/webp", "text/plain"];
/// nbconvert's HTML export order (nbviewer and code hosts start from it), with SVG set aside as
/// their sanitisers set it aside.
const HTML_EXPORT_SANITISED: &[&str] = &["text/html", "application/pdf", "text/latex", "image/png", "image/jpeg", "text/markdown", "text/plain"];

#[test]
fn every_figure_renders_as_an_image_in_untrusted_jupyterlab_and_sanitised_html() {
    let mut figures = 0;
    for path in notebooks() {
        let nb = load(&path);
        for (cell, o) in outputs(&nb) {
            let data = &o["data"];
            if !is_figure(data) {
                continue;
            }
            figures += 1;
            for (renderer, priority) in [("JupyterLab (untrusted)", JUPYTERLAB_UNTRUSTED), ("sanitised HTML export", HTML_EXPORT_SANITISED)] {
                let html = render(data, priority);
                assert!(html.contains("<img"), "{}, cell {cell}: a figure shows as {html:.200} in {renderer} (the output needs image/png and no text/html)", name(&path));
            }
            if let Some(png) = data.get("image/png") {
                assert!(png.as_str().is_some_and(|s| s.starts_with("iVBORw0KGgo")), "{}, cell {cell}: image/png is not one base64 PNG string", name(&path));
            }
        }
    }
    assert!(figures > 20, "only {figures} figure outputs in all notebooks");
}

#[test]
fn no_html_output_hides_a_figure() {
    for path in notebooks() {
        for (cell, o) in outputs(&load(&path)) {
            assert!(!text(&o["data"]["text/html"]).contains("<svg"), "{}, cell {cell}: an SVG inside text/html (stripped by sanitisers)", name(&path));
        }
    }
}

/// `Err` naming every stale code cell of `nb`.
fn stale_cells(path: &Path, nb: &Value) -> Result<(), String> {
    let command = format!("just notebooks-outputs {}", &name(path)[..2]);
    let mut stale = Vec::new();
    for (i, cell) in nb["cells"].as_array().unwrap().iter().enumerate().filter(|(_, c)| c["cell_type"] == "code") {
        let made = &cell["metadata"]["distillery"];
        let source = text(&cell["source"]);
        if made["source"].as_str() != Some(common::source_digest(&source).as_str()) {
            stale.push(format!("cell {i}: its source changed after its outputs were made (or they never were)"));
        } else if made["style"].as_u64() != Some(distillery::plot::STYLE_VERSION as u64) {
            stale.push(format!("cell {i}: figures of plot style {} (now {})", made["style"], distillery::plot::STYLE_VERSION));
        }
    }
    if stale.is_empty() { Ok(()) } else { Err(format!("{}: {}; re-make its outputs with `{command}`", name(path), stale.join("; "))) }
}

#[test]
fn outputs_were_made_from_the_cells_as_committed_and_the_current_plot_style() {
    let mut failures = Vec::new();
    for path in notebooks() {
        let waiting = AWAITING_RERUN.contains(&name(&path).as_str());
        match (stale_cells(&path, &load(&path)), waiting) {
            (Err(e), false) => failures.push(e),
            (Ok(()), true) => failures.push(format!("{}: up to date, so take it off AWAITING_RERUN", name(&path))),
            _ => {}
        }
    }
    assert!(failures.is_empty(), "stale notebook outputs:\n{}", failures.join("\n"));
}

#[test]
fn the_staleness_check_catches_an_edited_cell_and_an_old_style() {
    let cell = |source: &str, digest: &str, style: u32| serde_json::json!({"cell_type": "code", "source": source, "metadata": {"distillery": {"source": digest, "style": style}}, "outputs": []});
    let ok = common::source_digest("let x = 1;");
    let nb = |c: Value| serde_json::json!({"cells": [c]});
    let path = Path::new("07-example.ipynb");
    assert!(stale_cells(path, &nb(cell("let x = 1;", &ok, distillery::plot::STYLE_VERSION))).is_ok());
    let edited = stale_cells(path, &nb(cell("let x = 2;", &ok, distillery::plot::STYLE_VERSION))).unwrap_err();
    assert!(edited.contains("07-example.ipynb: cell 0: its source changed") && edited.contains("just notebooks-outputs 07"), "{edited}");
    let old = stale_cells(path, &nb(cell("let x = 1;", &ok, 0))).unwrap_err();
    assert!(old.contains("plot style 0"), "{old}");
}

/// Every text an output shows (streams, plain text, HTML, Markdown, SVG text).
fn output_text(nb: &Value) -> String {
    outputs(nb).iter().map(|(_, o)| text(&o["text"]) + &["text/plain", "text/html", "text/markdown", "image/svg+xml"].iter().map(|m| text(&o["data"][*m])).collect::<String>()).collect()
}

/// Decimal numbers in `text` (`85.25`, `−0.21`, `+1.09` → their digits).
fn decimals(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '.' || chars[i - 1] == '_')) {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || (chars[i] == '.' && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()))) {
                i += 1;
            }
            let n: String = chars[start..i].iter().collect();
            let followed_by_word = chars.get(i).is_some_and(|c| c.is_alphabetic() || *c == '_');
            if n.matches('.').count() == 1 && !followed_by_word {
                out.push(n);
            }
        }
        i += 1;
    }
    out
}

#[test]
fn conclusions_quote_only_numbers_the_outputs_show() {
    assert_eq!(decimals("teacher 85.25 %, Δ +0.44 [−0.21, +1.09], v0.22.1, 1.5×, fig 2.3b, 3.0x, 0.0.0.0"), ["85.25", "0.44", "0.21", "1.09", "1.5"]);
    let mut failures = Vec::new();
    for path in notebooks() {
        let nb = load(&path);
        if AWAITING_RERUN.contains(&name(&path).as_str()) {
            continue;
        }
        let shown = output_text(&nb);
        let cells = nb["cells"].as_array().unwrap();
        let Some((i, last)) = cells.iter().enumerate().rev().find(|(_, c)| c["cell_type"] == "markdown") else { continue };
        for n in decimals(&text(&last["source"])) {
            if !shown.contains(&n) {
                failures.push(format!("{}: cell {i} (the conclusion) quotes {n}, which no output of the notebook shows", name(&path)));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn outputs_name_no_machine_path_nor_internal_text_and_fit_the_budget() {
    for path in notebooks() {
        let size = std::fs::metadata(&path).unwrap().len() as usize;
        assert!(size <= BUDGET_BYTES, "{}: {} KB, over the {} KB budget per notebook", name(&path), size / 1024, BUDGET_BYTES / 1024);
        if AWAITING_RERUN.contains(&name(&path).as_str()) {
            continue; // their text is as the old code printed it (data paths included)
        }
        let nb = load(&path);
        for (cell, o) in outputs(&nb) {
            let shown = text(&o["text"]) + &text(&o["data"]["text/plain"]) + &text(&o["data"]["text/html"]);
            for bad in ["/shared/", "/work/", "/root/", "/home/", "/tmp/", "try_into_scalar", "panicked at"] {
                assert!(!shown.contains(bad), "{}, cell {cell}: an output shows `{bad}`:\n{}", name(&path), shown.lines().find(|l| l.contains(bad)).unwrap_or_default());
            }
            assert!(!shown.lines().any(|l| l.trim() == "()"), "{}, cell {cell}: a stray `()` (end the cell with `;` or a value)", name(&path));
        }
    }
}
