//! Figures as SVG (plotters' SVG backend; text needs no font files). One style for all:
//! 640×400 panels, the [`PALETTE`], light grid, legend in a box.
//!
//! - [`curves()`]: a metric per epoch, several runs overlaid (train dashed, test solid)
//! - [`bars()`]: mean ± std bars with optional reference marks (a paper's numbers)
//! - [`lines()`]: sweep line plots with error bars
//! - [`image_grid`] / [`heatmap_grid`]: images (rows = classes) and heat-map overlays
pub mod bars;
pub mod curves;
pub mod images;
pub mod lines;

pub use bars::{bars, Bar};
pub use curves::{curves, PALETTE};
pub use images::{heatmap_grid, image_grid, Normalise};
pub use lines::{lines, Series};

/// A finished figure: an SVG document.
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
        crate::record::write_atomic(path.as_ref(), self.svg.as_bytes())
    }

    /// The SVG as an inline HTML fragment.
    pub fn html(&self) -> String {
        format!("<div style=\"display:inline-block;vertical-align:top\">{}</div>", self.svg)
    }

    /// Shows the figure inline when it is the last expression of an evcxr cell.
    pub fn evcxr_display(&self) {
        crate::display::show_html(&self.html());
    }
}

/// Axis-range helper: (min, max) of finite values with a margin, never empty.
pub(crate) fn padded_range(values: impl Iterator<Item = f64>, floor_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if floor_zero {
        lo = lo.min(0.0);
    }
    let pad = ((hi - lo) * 0.08).max(1e-3);
    (if floor_zero && lo >= 0.0 { 0.0 } else { lo - pad }, hi + pad)
}

/// The shared legend style: a light box in the lower right.
pub(crate) fn draw_legend<'a, CT>(chart: &mut plotters::chart::ChartContext<'a, plotters::backend::SVGBackend<'a>, CT>)
where
    CT: plotters::coord::CoordTranslate,
{
    use plotters::prelude::*;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .ok();
}

/// The 2-D cartesian chart every line figure draws on.
pub(crate) type XyChart<'a> =
    plotters::chart::ChartContext<'a, plotters::backend::SVGBackend<'a>, plotters::coord::cartesian::Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>;

/// A 640×400 SVG with a title, the given ranges, whatever `draw` adds, and the shared legend.
pub(crate) fn xy_chart(title: &str, x: std::ops::Range<f64>, y: std::ops::Range<f64>, draw: impl FnOnce(&mut XyChart<'_>)) -> Figure {
    use plotters::prelude::*;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
        root.fill(&WHITE).ok();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(x, y)
            .expect("non-empty ranges");
        draw(&mut chart);
        draw_legend(&mut chart);
        root.present().ok();
    }
    Figure { svg, title: title.into() }
}
