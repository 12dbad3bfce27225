//! `docs/api.md` cannot drift from the code: every builder under `src/methods/` (a `pub struct
//! …Builder`, and `Condense`) has a row, every public method of its own inherent `impl` appears in
//! that row (`` `.name` ``, or `::name()` for a constructor), and `.config` is never a reader.
use std::path::Path;

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            all.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            all.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
        }
    }
    all
}

/// The `pub fn` names (and their first lines) at the top level of every `impl NAME {` block.
fn own_methods(files: &[(String, String)], name: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let header = format!("\nimpl {name} {{");
    for (_, text) in files {
        let mut from = 0;
        while let Some(at) = text[from..].find(&header) {
            let start = from + at + header.len();
            let mut depth = 1i32;
            for line in text[start..].lines() {
                if depth == 1
                    && let Some(rest) = line.trim_start().strip_prefix("pub fn ")
                {
                    let method: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    out.push((method, line.trim().to_string()));
                }
                depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
                if depth <= 0 {
                    break;
                }
            }
            from = start;
        }
    }
    out
}

#[test]
fn every_builder_and_its_methods_are_in_docs_api_md() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/api.md")).unwrap();
    let files = sources(&root.join("src/methods"));
    let mut builders: Vec<String> = files
        .iter()
        .flat_map(|(_, text)| text.lines().filter_map(|l| l.trim().strip_prefix("pub struct ")).map(|l| l.chars().take_while(|c| c.is_alphanumeric()).collect::<String>()).collect::<Vec<_>>())
        .filter(|name| name.ends_with("Builder"))
        .collect();
    builders.push("Condense".into());
    assert!(builders.len() >= 10, "found only {builders:?}");
    for builder in &builders {
        let row = doc.lines().find(|l| l.starts_with(&format!("| `{builder}` |"))).unwrap_or_else(|| panic!("docs/api.md has no row for {builder}"));
        let methods = own_methods(&files, builder);
        assert!(!methods.is_empty(), "no methods found for {builder}");
        for (method, line) in methods {
            if method == "fit" || method == "builder" {
                continue; // the `fit returns` column and the constructor column
            }
            assert!(row.contains(&format!("`.{method}")) || row.contains(&format!(".{method}`")) || row.contains(&format!(".{method}(")) || row.contains(&format!("::{method}(")), "docs/api.md's row for {builder} does not name `.{method}`");
            // one meaning of `.config`: a setter that takes the configuration
            if method == "config" {
                assert!(line.contains("mut self"), "{builder}::config is not a setter: {line}");
            }
        }
    }
}

/// The top-level module a file under `src/` belongs to (`models` for `src/models/norm.rs`).
fn top_module(root: &Path, file: &str) -> String {
    let rel = Path::new(file).strip_prefix(root).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// No two top-level modules use each other (over `crate::` paths in code, comments left out):
/// the layers stay one-way, e.g. `models` uses `ops` and never the reverse. Seen failing on
/// `models ↔ ops` before the composed instance norm moved into `ops::norm`.
#[test]
fn no_two_modules_import_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut uses = std::collections::BTreeMap::<(String, String), String>::new();
    for (file, text) in sources(&root) {
        let from = top_module(&root, &file);
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or_default();
            for (at, _) in code.match_indices("crate::") {
                let to: String = code[at + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !to.is_empty() && to != from && !["lib", "main"].contains(&from.as_str()) {
                    uses.entry((from.clone(), to)).or_insert_with(|| format!("{file}: {}", line.trim()));
                }
            }
        }
    }
    for ((a, b), seen) in &uses {
        if a < b
            && let Some(back) = uses.get(&(b.clone(), a.clone()))
        {
            panic!("`{a}` and `{b}` import each other:\n  {seen}\n  {back}");
        }
    }
}
