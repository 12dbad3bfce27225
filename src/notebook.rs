//! evcxr display: `Run`, `Sweep`, `Table`, `Figure`, `Panel` and `Job` show themselves when they
//! are the last expression of a cell. evcxr keeps one output per MIME type per cell, so a value
//! shows as one bundle: its figures composed into one image (PNG + SVG), its tables and status
//! lines printed above it as text; a value with tables only shows them as HTML + Markdown + text.

pub use crate::display::{show_html, Bundle};
use crate::plot::Figure;
use crate::table::Table;

/// Several figures and tables shown together.
#[derive(Clone, Debug, Default)]
pub struct Panel {
    /// Figures, side by side (in rows at most 1,600 px wide).
    pub figures: Vec<Figure>,
    /// Tables, above the figures.
    pub tables: Vec<Table>,
    /// Lines of text (a status, a caption), above the tables.
    pub lines: Vec<String>,
}

impl Panel {
    /// An empty panel.
    pub fn new() -> Panel {
        Panel::default()
    }
    /// Adds a figure.
    pub fn figure(mut self, f: Figure) -> Panel {
        self.figures.push(f);
        self
    }
    /// Adds a table.
    pub fn table(mut self, t: Table) -> Panel {
        self.tables.push(t);
        self
    }
    /// Adds a line of text.
    pub fn line(mut self, text: impl Into<String>) -> Panel {
        self.lines.push(text.into());
        self
    }
    /// The figures as one (titled by theirs, joined with " · ").
    pub fn figure_of_all(&self) -> Option<Figure> {
        (!self.figures.is_empty()).then(|| Figure::compose(self.figures.iter().map(|f| f.title.as_str()).collect::<Vec<_>>().join(" · "), &self.figures))
    }
    /// The text shown above the figures: the lines, then each table as aligned plain text.
    pub fn text(&self) -> String {
        let mut s: String = self.lines.iter().map(|l| format!("{l}\n")).collect();
        for t in &self.tables {
            if !s.is_empty() {
                s.push('\n');
            }
            s += &t.text();
        }
        s
    }
    /// The HTML of the lines and tables (no figures: those go as images).
    pub fn html(&self) -> String {
        let esc = crate::display::escape;
        let mut h: String = self.lines.iter().map(|l| format!("<p style=\"font-family:sans-serif\">{}</p>", esc(l))).collect();
        h += &self.tables.iter().map(|t| t.html()).collect::<String>();
        h
    }
    /// The output bundle: the composed figure when there is one (its text printed separately by
    /// [`Panel::evcxr_display`]), else the tables as HTML, Markdown and text.
    pub fn bundle(&self) -> Bundle {
        match self.figure_of_all() {
            Some(f) => f.bundle(),
            None => {
                let markdown: String = self.lines.iter().map(|l| format!("{l}\n\n")).chain(self.tables.iter().map(|t| t.markdown() + "\n")).collect();
                Bundle::new().with("text/html", self.html()).with("text/markdown", markdown).with("text/plain", self.text())
            }
        }
    }
    /// Shows the panel inline: text first (as a stream, which every renderer shows), then the
    /// figures as one image.
    pub fn evcxr_display(&self) {
        if !self.figures.is_empty() {
            let text = self.text();
            if !text.is_empty() {
                println!("{}", text.trim_end());
            }
        }
        self.bundle().show();
    }
}
