//! evcxr display: `Run`, `Sweep`, `Table`, `Figure` and `Job` show themselves when they are the
//! last expression of a cell. evcxr keeps one output per MIME type per cell, so each value emits
//! a single `text/html` block holding its figures and its table.

pub use crate::display::show_html;

/// Figures side by side followed by HTML fragments.
pub fn compose(figures: &[crate::plot::Figure], extra: &[String]) -> String {
    let mut html = String::from("<div>");
    for f in figures {
        html += &f.html();
    }
    html += "</div>";
    for e in extra {
        html += e;
    }
    html
}

/// Several figures and tables shown together (one HTML block, as evcxr keeps one per cell).
#[derive(Clone, Debug, Default)]
pub struct Panel {
    /// Figures, side by side.
    pub figures: Vec<crate::plot::Figure>,
    /// Tables, below the figures.
    pub tables: Vec<crate::table::Table>,
}

impl Panel {
    /// An empty panel.
    pub fn new() -> Panel {
        Panel::default()
    }
    /// Adds a figure.
    pub fn figure(mut self, f: crate::plot::Figure) -> Panel {
        self.figures.push(f);
        self
    }
    /// Adds a table.
    pub fn table(mut self, t: crate::table::Table) -> Panel {
        self.tables.push(t);
        self
    }
    /// The HTML block.
    pub fn html(&self) -> String {
        compose(&self.figures, &self.tables.iter().map(|t| t.html()).collect::<Vec<_>>())
    }
    /// Shows the panel inline.
    pub fn evcxr_display(&self) {
        show_html(&self.html());
    }
}
