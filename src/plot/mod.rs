//! Figures as SVG (plotters, no font files needed).
pub mod curves;

pub use curves::curves;

/// A finished figure: SVG text.
#[derive(Clone, Debug)]
pub struct Figure {
    /// The SVG document.
    pub svg: String,
    /// Title, also used as a file stem.
    pub title: String,
}

impl Figure {
    /// Writes the SVG atomically.
    pub fn save_svg(&self, path: impl AsRef<std::path::Path>) -> crate::Result<()> {
        crate::train::record::write_atomic(path.as_ref(), self.svg.as_bytes())
    }
}
