//! The lowest display layer: evcxr's rich-output protocol. Plots, tables and the notebook
//! helpers all print through here, so none of them imports another for display.
//!
//! evcxr keeps one block per MIME type per cell and sends them as one display bundle, from which
//! the reader's front end picks the richest type it may render: so every value shows itself as
//! one [`Bundle`] — figures as `image/png` + `image/svg+xml` + `text/plain`, tables as
//! `text/html` + `text/markdown` + `text/plain` — and never mixes a figure into HTML (an
//! untrusted notebook in JupyterLab and every code host strip inline `<svg>` from HTML).

/// One output: the same content in several MIME types.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bundle {
    parts: Vec<(String, String)>,
}

impl Bundle {
    /// An empty bundle.
    pub fn new() -> Bundle {
        Bundle::default()
    }
    /// Sets the content of `mime` (replacing any earlier content of that type).
    pub fn with(mut self, mime: &str, content: impl Into<String>) -> Bundle {
        let content = content.into();
        match self.parts.iter_mut().find(|(m, _)| m == mime) {
            Some(part) => part.1 = content,
            None => self.parts.push((mime.to_string(), content)),
        }
        self
    }
    /// The content of `mime`, if the bundle has it.
    pub fn get(&self, mime: &str) -> Option<&str> {
        self.parts.iter().find(|(m, _)| m == mime).map(|(_, c)| c.as_str())
    }
    /// The MIME types, in the order they were set.
    pub fn mimes(&self) -> Vec<&str> {
        self.parts.iter().map(|(m, _)| m.as_str()).collect()
    }
    /// Sends the bundle to the notebook (evcxr's protocol on stdout).
    pub fn show(&self) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for (mime, content) in &self.parts {
            let _ = writeln!(out, "EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT");
        }
        let _ = out.flush();
    }
}

/// `text` safe inside HTML or SVG markup (`&`, `<`, `>` escaped).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Sends one HTML block to the notebook (text and tables only: figures go as a [`Bundle`]).
pub fn show_html(html: &str) {
    Bundle::new().with("text/html", html).show();
}
