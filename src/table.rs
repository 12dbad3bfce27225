//! Result tables: Markdown and CSV for docs, HTML inline in notebooks.
use serde::{Deserialize, Serialize};

/// A titled table of strings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Caption.
    pub title: String,
    /// Column headers.
    pub columns: Vec<String>,
    /// Rows (each as long as `columns`).
    pub rows: Vec<Vec<String>>,
    /// A line under the table saying how to read it (empty: none).
    #[serde(default)]
    pub note: String,
}

/// `mean ± std` over `n` runs with two decimals; one run has no spread to show, so it reads
/// `mean (n = 1)` instead of a made-up `± 0.00`.
pub fn mean_pm(mean: f64, std: f64, n: usize) -> String {
    if n < 2 { format!("{mean:.2} (n = 1)") } else { format!("{mean:.2} ± {std:.2}") }
}

/// An error text as a table cell: its first line, at most 120 characters (`…` where cut); the
/// whole text stays in the record or the saved comparison.
pub fn brief(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() <= 120 && !text.contains('\n') { line.to_string() } else { line.chars().take(119).collect::<String>() + "…" }
}

/// A Markdown cell: `|` escaped, line breaks as spaces (either would break the row).
fn markdown_cell(cell: &str) -> String {
    cell.replace('|', "\\|").replace("\r\n", " ").replace(['\n', '\r'], " ")
}

impl Table {
    /// An empty table.
    pub fn new(title: impl Into<String>, columns: &[&str]) -> Table {
        Table { title: title.into(), columns: columns.iter().map(|c| c.to_string()).collect(), rows: Vec::new(), note: String::new() }
    }
    /// Sets the line under the table.
    pub fn with_note(mut self, note: impl Into<String>) -> Table {
        self.note = note.into();
        self
    }
    /// Appends a row (padded or cut to the column count).
    pub fn push(&mut self, row: Vec<String>) {
        let mut row = row;
        row.resize(self.columns.len(), String::new());
        self.rows.push(row);
    }
    /// GitHub-flavoured Markdown (cells escaped: a `|` or a line break stays inside its cell).
    pub fn markdown(&self) -> String {
        let row = |cells: &[String]| format!("| {} |\n", cells.iter().map(|c| markdown_cell(c)).collect::<Vec<_>>().join(" | "));
        let mut s = row(&self.columns) + &format!("|{}|\n", self.columns.iter().map(|_| "---").collect::<Vec<_>>().join("|"));
        for r in &self.rows {
            s += &row(r);
        }
        if !self.note.is_empty() {
            s += &format!("\n{}\n", self.note);
        }
        s
    }
    /// RFC 4180 CSV.
    pub fn csv(&self) -> String {
        let field = |f: &String| if f.contains([',', '"', '\n']) { format!("\"{}\"", f.replace('"', "\"\"")) } else { f.clone() };
        std::iter::once(&self.columns).chain(&self.rows).map(|r| r.iter().map(field).collect::<Vec<_>>().join(",") + "\n").collect()
    }
    /// An HTML table with its caption.
    pub fn html(&self) -> String {
        let esc = crate::display::escape;
        let mut h = format!(
            "<table style=\"border-collapse:collapse;font-family:sans-serif;font-size:13px\"><caption style=\"font-weight:bold;padding:4px\">{}</caption><tr>",
            esc(&self.title)
        );
        for c in &self.columns {
            h += &format!("<th style=\"border-bottom:1px solid #888;padding:3px 8px;text-align:left\">{}</th>", esc(c));
        }
        h += "</tr>";
        for r in &self.rows {
            h += "<tr>";
            for c in r {
                h += &format!("<td style=\"padding:3px 8px\">{}</td>", esc(c));
            }
            h += "</tr>";
        }
        h += "</table>";
        if !self.note.is_empty() {
            h += &format!("<p style=\"font-family:sans-serif;font-size:12px;margin:2px 0 8px\">{}</p>", esc(&self.note));
        }
        h
    }
    /// Plain text: the title, columns padded to their widest cell, a rule under the header, the
    /// note below (what a terminal or a stream output shows).
    pub fn text(&self) -> String {
        let flat = |c: &str| c.replace("\r\n", " ").replace(['\n', '\r'], " ");
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|j| std::iter::once(&self.columns).chain(&self.rows).map(|r| r.get(j).map_or(0, |c| flat(c).chars().count())).max().unwrap_or(0))
            .collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = widths.iter().enumerate().map(|(j, &w)| {
                let c = flat(cells.get(j).map_or("", |c| c.as_str()));
                let pad = w - c.chars().count();
                c + &" ".repeat(pad)
            }).collect();
            padded.join("  ").trim_end().to_string() + "\n"
        };
        let mut s = format!("{}\n", self.title) + &line(&self.columns);
        s += &(widths.iter().map(|&w| "─".repeat(w)).collect::<Vec<_>>().join("  ") + "\n");
        for r in &self.rows {
            s += &line(r);
        }
        if !self.note.is_empty() {
            s += &format!("{}\n", self.note);
        }
        s
    }
    /// The output bundle: HTML (rendered tables), Markdown and plain text.
    pub fn bundle(&self) -> crate::display::Bundle {
        crate::display::Bundle::new().with("text/html", self.html()).with("text/markdown", self.markdown()).with("text/plain", self.text())
    }
    /// Shows the table inline in an evcxr cell.
    pub fn evcxr_display(&self) {
        self.bundle().show();
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.markdown())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn renders_markdown_csv_html() {
        let mut t = Table::new("Results", &["method", "acc"]);
        t.push(vec!["KD, T=4".into(), "81.2".into()]);
        t.push(vec!["<b>".into()]);
        assert_eq!(t.markdown(), "| method | acc |\n|---|---|\n| KD, T=4 | 81.2 |\n| <b> |  |\n");
        let mut odd = Table::new("x", &["a|b", "c"]);
        odd.push(vec!["1 | 2".into(), "line one\nline two".into()]);
        assert_eq!(odd.markdown(), "| a\\|b | c |\n|---|---|\n| 1 \\| 2 | line one line two |\n", "one row, two cells");
        assert_eq!(brief("first line\nsecond"), "first line…");
        assert_eq!(brief(&"x".repeat(200)).chars().count(), 120);
        assert_eq!(brief("short"), "short");
        assert_eq!(t.csv(), "method,acc\n\"KD, T=4\",81.2\n<b>,\n");
        assert_eq!(t.text(), "Results\nmethod   acc\n───────  ────\nKD, T=4  81.2\n<b>\n", "columns padded to their widest cell");
        let b = t.bundle();
        assert_eq!(b.mimes(), ["text/html", "text/markdown", "text/plain"]);
        assert!(t.html().contains("&lt;b&gt;") && t.html().contains("<caption"));
    }
}
