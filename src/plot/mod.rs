//! Figures as SVG (plotters' SVG backend), shown in notebooks as PNG + SVG ([`Figure::bundle`]:
//! the PNG rasterised in-process by [`raster`] with an embedded font, so figures render where
//! inline SVG is stripped). One style for all ([`STYLE_VERSION`]): 640×400 plot areas, titles
//! wrapped to the canvas, the [`PALETTE`] (bars past it outlined), a light grid, tick labels ≥ 12
//! px, axis titles and legend rows in words ([`axis_title`], [`metric_words`]), category labels
//! wrapped to their slot, log axes ticked at the swept values, and the legend in a box in its own
//! column right of the plot, so it never covers data; its swatches show each series' dash style
//! ([`Dash`]).
//!
//! - [`curves()`]: a metric per epoch, several runs overlaid (one colour per run, one dash per
//!   key; one run: one colour per key)
//! - [`bars()`]: mean ± std bars from zero, every seed as a dot, optional reference marks (a
//!   paper's numbers); [`differences()`]: paired differences with their intervals around zero
//! - [`grouped_bars()`]: several series per category (e.g. a softened distribution per T)
//! - [`lines()`]: sweep line plots with error bars
//! - [`image_grid`] / [`heatmap_grid`]: images (rows = classes) and heat-map overlays with a
//!   colour scale (PNG only in notebooks)
pub mod bars;
pub mod curves;
pub mod images;
pub mod lines;
pub mod raster;
pub mod svg;

pub use bars::{bars, differences, grouped_bars, Bar, Difference};
pub use curves::{curves, PALETTE};
pub use images::{heatmap_grid, heatmap_grid_columns, image_grid, image_grid_columns, Normalise};
pub use lines::{lines, Series};

/// The version of the plot style: raised whenever a change to `src/plot/` changes how committed
/// figures look, so that `tests/notebook_outputs.rs` names every notebook whose figures are older.
pub const STYLE_VERSION: u32 = 2;

/// A finished figure: an SVG document, shown in a notebook as PNG and SVG together.
#[derive(Clone, Debug)]
pub struct Figure {
    /// The SVG document.
    pub svg: String,
    /// Title, also used as a file stem.
    pub title: String,
    /// An image grid: its SVG only wraps a raster, so notebooks get the PNG alone.
    pub raster: bool,
}

/// Widest row of figures side by side in a composed figure (wider ones wrap to the next row).
const ROW_WIDTH: f64 = 1600.0;

impl Figure {
    /// A chart from its SVG document.
    pub fn new(title: impl Into<String>, svg: String) -> Figure {
        Figure { svg, title: title.into(), raster: false }
    }

    /// Writes the SVG atomically.
    pub fn save_svg(&self, path: impl AsRef<std::path::Path>) -> crate::Result<()> {
        crate::record::write_atomic(path.as_ref(), self.svg.as_bytes())
    }

    /// The figure as PNG, text in the embedded font: [`raster::SCALE`] pixels per SVG pixel for a
    /// chart (fewer for a composed figure past [`raster::MAX_PIXELS`]), 1 for an image grid (its
    /// images are already enlarged, pixel for pixel).
    pub fn png(&self) -> crate::Result<Vec<u8>> {
        raster::png(&self.title, &self.svg, self.raster_scale())
    }

    /// Pixels of PNG per SVG pixel.
    pub fn raster_scale(&self) -> f32 {
        if self.raster {
            return 1.0;
        }
        let (w, h) = self.size();
        let fit = (raster::MAX_PIXELS / (w * h).max(1.0)).sqrt() as f32;
        raster::SCALE.min(fit).max(1.0)
    }

    /// Writes the PNG atomically.
    pub fn save_png(&self, path: impl AsRef<std::path::Path>) -> crate::Result<()> {
        crate::record::write_atomic(path.as_ref(), &self.png()?)
    }

    /// Width and height of the SVG canvas in pixels.
    pub fn size(&self) -> (f64, f64) {
        let head = &self.svg[self.svg.find("<svg").unwrap_or(0)..];
        let head = &head[..head.find('>').unwrap_or(head.len())];
        let attr = |name: &str| {
            let key = format!(" {name}=\"");
            head.find(&key).and_then(|i| head[i + key.len()..].split('"').next()?.trim_end_matches("px").parse::<f64>().ok()).unwrap_or(0.0)
        };
        (attr("width"), attr("height"))
    }

    /// `figures` as one: side by side in rows at most 1,600 px wide, in order (one notebook
    /// output holds one image). Raster if any part is.
    pub fn compose(title: impl Into<String>, figures: &[Figure]) -> Figure {
        if let [one] = figures {
            return one.clone();
        }
        let (mut x, mut y, mut row_h, mut width) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let mut body = String::new();
        for f in figures {
            let (w, h) = f.size();
            if x > 0.0 && x + w > ROW_WIDTH {
                (x, y, row_h) = (0.0, y + row_h, 0.0);
            }
            let inner = f.svg.trim_start();
            let inner = if inner.starts_with("<?xml") { inner[inner.find("?>").map_or(0, |i| i + 2)..].trim_start() } else { inner };
            body += &inner.replacen("<svg", &format!("<svg x=\"{x}\" y=\"{y}\""), 1);
            (x, row_h, width) = (x + w, row_h.max(h), width.max(x + w));
        }
        let height = y + row_h;
        let svg = format!(
            "<svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\"><rect width=\"100%\" height=\"100%\" fill=\"white\"/>{body}</svg>"
        );
        Figure { svg, title: title.into(), raster: figures.iter().any(|f| f.raster) }
    }

    /// The notebook output: `image/png` (what every renderer shows, untrusted JupyterLab and code
    /// hosts included), `image/svg+xml` (crisp where allowed; left out for image grids, whose SVG
    /// only wraps the same raster) and a `text/plain` line naming the figure.
    pub fn bundle(&self) -> crate::display::Bundle {
        let (w, h) = self.size();
        let mut b = crate::display::Bundle::new();
        let mut plain = format!("[figure: {} ({w:.0}×{h:.0} px)]", self.title);
        match self.png() {
            Ok(png) => b = b.with("image/png", images::base64(&png)),
            Err(e) => plain += &format!(" (no PNG: {e})"),
        }
        if !self.raster {
            b = b.with("image/svg+xml", svg::compact(&self.svg));
        }
        b.with("text/plain", plain)
    }

    /// Shows the figure inline when it is the last expression of an evcxr cell.
    pub fn evcxr_display(&self) {
        self.bundle().show();
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

/// How a legend swatch is drawn: a line in one of the [`Dash`] styles, a filled bar, an error
/// bar, or a black reference tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swatch {
    /// A line with this dash style.
    Line(Dash),
    /// A filled box.
    Bar,
    /// A vertical error bar with caps.
    ErrorBar,
    /// A thick black horizontal tick (a reference value).
    Tick,
    /// A small filled circle (one run's value).
    Point,
}

/// Line styles, distinct in the plot and in the legend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dash {
    /// Unbroken.
    Solid,
    /// 6 px on, 4 px off.
    Dashed,
    /// 2 px on, 3 px off.
    Dotted,
    /// 12 px on, 4 px off.
    LongDash,
}

impl Dash {
    /// The k-th style: solid, dashed, dotted, long dash, then round again.
    pub fn nth(k: usize) -> Dash {
        [Dash::Solid, Dash::Dashed, Dash::Dotted, Dash::LongDash][k % 4]
    }

    /// (on, off) in pixels; `None` for solid.
    pub fn pattern(self) -> Option<(u32, u32)> {
        match self {
            Dash::Solid => None,
            Dash::Dashed => Some((6, 4)),
            Dash::Dotted => Some((2, 3)),
            Dash::LongDash => Some((12, 4)),
        }
    }
}

/// One legend row.
#[derive(Clone, Debug, PartialEq)]
pub struct LegendEntry {
    /// Text.
    pub label: String,
    /// Colour of the swatch.
    pub color: plotters::style::RGBColor,
    /// Shape of the swatch.
    pub swatch: Swatch,
}

impl LegendEntry {
    /// A row.
    pub fn new(label: impl Into<String>, color: plotters::style::RGBColor, swatch: Swatch) -> LegendEntry {
        LegendEntry { label: label.into(), color, swatch }
    }
}

/// Width of the plot area of every x–y figure and bar chart (the legend goes to its right).
pub const PLOT_W: u32 = 640;
/// Height of every x–y figure and bar chart.
pub const PLOT_H: u32 = 400;
/// Font size of tick labels as plotters takes it (it writes 0.806 × this: 12 px in the SVG).
pub const TICK_FONT: u32 = 15;
/// Font size of axis titles and legend rows (13.7 px in the SVG).
pub const LABEL_FONT: u32 = 17;
/// Stroke colour of the legend box (tests find the box by it).
pub const LEGEND_BORDER: plotters::style::RGBColor = plotters::style::RGBColor(170, 170, 170);
const LEGEND_ROW: i32 = 22;
const LEGEND_MAX_CHARS: usize = 44;

/// A tick value without trailing zeros: 90 → "90", 0.25 → "0.25".
pub(crate) fn tick(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// The words an axis title uses for a recorded metric: `test_acc` → "test accuracy (%)",
/// `ce` → "cross-entropy"; anything else with `_` read as a space.
pub fn axis_title(metric: &str) -> String {
    if metric.ends_with("_acc") { format!("{} (%)", metric_words(metric)) } else { metric_words(metric) }
}

/// A metric's name in words, without a unit: `test_acc` → "test accuracy", `ce` → "cross-entropy",
/// `head_s3_acc` → "S3 head accuracy", `peer0_acc` → "peer 0 accuracy", `ens_acc` → "ensemble
/// accuracy", `avg_acc` → "mean peer accuracy", `w1` → "weight of peer 1", `intra0` → "intra-model
/// distance, peer 0", `inter` → "inter-model distance".
pub fn metric_words(metric: &str) -> String {
    let numbered = |prefix: &str| metric.strip_prefix(prefix).and_then(|rest| rest.split('_').next()?.parse::<usize>().ok());
    match metric {
        "ce" => return "cross-entropy".into(),
        "kd" => return "KD loss".into(),
        "loss" => return "loss".into(),
        "ens_acc" => return "ensemble accuracy".into(),
        "avg_acc" => return "mean peer accuracy".into(),
        "inter" => return "inter-model distance".into(),
        "clean_train_acc" => return "accuracy on the clean training images".into(),
        _ => {}
    }
    if let Some(k) = metric.strip_prefix("head_s").and_then(|r| r.strip_suffix("_acc")) {
        return format!("S{k} head accuracy");
    }
    if let Some(k) = numbered("peer").filter(|_| metric.ends_with("_acc")) {
        return format!("peer {k} accuracy");
    }
    if let Some(k) = numbered("w").filter(|_| !metric.contains('_')) {
        return format!("weight of peer {k}");
    }
    if let Some(k) = numbered("intra").filter(|_| !metric.contains('_')) {
        return format!("intra-model distance, peer {k}");
    }
    match metric.strip_suffix("_acc") {
        Some(what) => format!("{} accuracy", what.replace('_', " ")),
        None => metric.replace('_', " "),
    }
}

fn legend_label(label: &str) -> String {
    if label.chars().count() <= LEGEND_MAX_CHARS {
        return label.to_string();
    }
    label.chars().take(LEGEND_MAX_CHARS - 1).chain(std::iter::once('…')).collect()
}

/// Width in pixels of the legend column for `entries` (0 when there are none).
pub(crate) fn legend_width(entries: &[LegendEntry]) -> u32 {
    let chars = entries.iter().map(|e| legend_label(&e.label).chars().count()).max();
    chars.map_or(0, |c| (c as u32 * LABEL_FONT * 58 / 100) + 64)
}

/// Draws `entries` in a box at the top of `area` (a column right of the plot: never over data).
pub(crate) fn draw_legend(area: &plotters::drawing::DrawingArea<plotters::backend::SVGBackend<'_>, plotters::coord::Shift>, entries: &[LegendEntry], top: i32) {
    use plotters::prelude::*;
    if entries.is_empty() {
        return;
    }
    let (w, _) = area.dim_in_pixel();
    let (x0, x1) = (6, w as i32 - 8);
    let y1 = top + 8 + LEGEND_ROW * entries.len() as i32;
    area.draw(&Rectangle::new([(x0, top), (x1, y1)], LEGEND_BORDER.stroke_width(1))).ok();
    for (i, e) in entries.iter().enumerate() {
        let y = top + 4 + LEGEND_ROW * i as i32 + LEGEND_ROW / 2;
        let (sx0, sx1) = (x0 + 8, x0 + 32);
        match e.swatch {
            Swatch::Line(dash) => {
                for (a, b) in dash_segments(sx0, sx1, dash) {
                    area.draw(&PathElement::new(vec![(a, y), (b, y)], e.color.stroke_width(2))).ok();
                }
                area.draw(&Circle::new(((sx0 + sx1) / 2, y), 3, e.color.filled())).ok();
            }
            Swatch::Bar => {
                area.draw(&Rectangle::new([(sx0 + 4, y - 6), (sx1 - 4, y + 6)], e.color.mix(0.85).filled())).ok();
            }
            Swatch::ErrorBar => {
                let c = (sx0 + sx1) / 2;
                for pts in [vec![(c, y - 7), (c, y + 7)], vec![(c - 4, y - 7), (c + 4, y - 7)], vec![(c - 4, y + 7), (c + 4, y + 7)]] {
                    area.draw(&PathElement::new(pts, e.color.stroke_width(2))).ok();
                }
            }
            Swatch::Tick => {
                area.draw(&PathElement::new(vec![(sx0, y), (sx1, y)], e.color.stroke_width(3))).ok();
            }
            Swatch::Point => {
                area.draw(&Circle::new(((sx0 + sx1) / 2, y), 3, e.color.filled())).ok();
            }
        }
        let style = TextStyle::from(("sans-serif", LABEL_FONT).into_font()).pos(plotters::style::text_anchor::Pos::new(plotters::style::text_anchor::HPos::Left, plotters::style::text_anchor::VPos::Center));
        area.draw(&Text::new(legend_label(&e.label), (sx1 + 8, y), style)).ok();
    }
}

/// The on-segments of a `dash` swatch between `x0` and `x1` (one segment for solid).
pub(crate) fn dash_segments(x0: i32, x1: i32, dash: Dash) -> Vec<(i32, i32)> {
    match dash.pattern() {
        None => vec![(x0, x1)],
        Some((on, off)) => {
            let mut out = Vec::new();
            let mut x = x0;
            while x < x1 {
                out.push((x, (x + on as i32).min(x1)));
                x += (on + off) as i32;
            }
            out
        }
    }
}

/// Draws `points` as a line in `dash` style.
pub(crate) fn draw_dashed(chart: &mut XyChart<'_>, points: &[(f64, f64)], dash: Dash, style: plotters::style::ShapeStyle) {
    use plotters::prelude::*;
    match dash.pattern() {
        None => chart.draw_series(LineSeries::new(points.iter().copied(), style)).map(|_| ()).ok(),
        Some((on, off)) => chart.draw_series(DashedLineSeries::new(points.iter().copied(), on, off, style)).map(|_| ()).ok(),
    };
}

/// The 2-D cartesian chart every line figure draws on.
pub(crate) type XyChart<'a> =
    plotters::chart::ChartContext<'a, plotters::backend::SVGBackend<'a>, plotters::coord::cartesian::Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>;

/// Readable mesh defaults: tick labels at [`TICK_FONT`], axis titles at [`LABEL_FONT`], a light grid.
pub(crate) fn readable<'m, 'a, 'b, 'c, X, Y>(
    mesh: &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, plotters::backend::SVGBackend<'c>>,
) -> &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, plotters::backend::SVGBackend<'c>>
where
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
{
    use plotters::prelude::*;
    mesh.label_style(("sans-serif", TICK_FONT))
        .axis_desc_style(("sans-serif", LABEL_FONT))
        .max_light_lines(0)
        .bold_line_style(RGBColor(225, 225, 225))
}

/// Font size of figure titles as plotters takes it (17.7 px in the SVG).
const TITLE_FONT: u32 = 22;

/// Estimated width in px of `text` at an SVG font size of `px` (DejaVu Sans, ≈ 0.6 em a character
/// at most on average).
pub(crate) fn text_width(text: &str, px: f64) -> f64 {
    text.chars().count() as f64 * px * 0.6
}

/// `text` broken at spaces into lines at most `width` px wide at font size `px` (a word longer
/// than a line stays whole).
pub(crate) fn wrap(text: &str, px: f64, width: f64) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if text_width(&format!("{line} {word}"), px) <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

/// A [`PLOT_W`]×[`PLOT_H`] plot area under `title` (wrapped to the canvas width), the legend in a
/// column to its right. `draw` gets the plot area; returns the SVG.
pub(crate) fn framed(title: &str, plot_w: u32, legend: &[LegendEntry], draw: impl FnOnce(&plotters::drawing::DrawingArea<plotters::backend::SVGBackend<'_>, plotters::coord::Shift>)) -> Figure {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let lw = legend_width(legend);
    let width = plot_w + lw;
    let title_px = TITLE_FONT as f64 * 0.806;
    let lines = wrap(title, title_px, width as f64 - 24.0);
    let line_h = 24;
    let head_h = 10 + line_h * lines.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, PLOT_H + head_h - 34)).into_drawing_area();
        root.fill(&WHITE).ok();
        let (head, body) = root.split_vertically(head_h);
        let style = TextStyle::from(("sans-serif", TITLE_FONT).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        for (k, line) in lines.iter().enumerate() {
            head.draw(&Text::new(line.clone(), (width as i32 / 2, 6 + line_h as i32 * k as i32), style.clone())).ok();
        }
        let (plot, side) = body.split_horizontally(plot_w);
        draw(&plot);
        draw_legend(&side, legend, 12);
        root.present().ok();
    }
    Figure::new(title, svg)
}

/// An x–y chart with the given ranges under `title`, whatever `draw` adds, and `legend` beside it.
pub(crate) fn xy_chart(title: &str, x: std::ops::Range<f64>, y: std::ops::Range<f64>, legend: &[LegendEntry], draw: impl FnOnce(&mut XyChart<'_>)) -> Figure {
    framed(title, PLOT_W, legend, |area| {
        let mut chart = plotters::chart::ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x, y)
            .expect("non-empty ranges");
        draw(&mut chart);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{EpochRecord, RunRecord};

    /// The value of `name="…"` in an SVG element.
    fn attr(el: &str, name: &str) -> Option<String> {
        let key = format!(" {name}=\"");
        let start = el.find(&key)? + key.len();
        Some(el[start..].split('"').next()?.to_string())
    }

    fn num(el: &str, name: &str) -> f64 {
        attr(el, name).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
    }

    /// Every `<tag …>` element's text.
    fn elements<'a>(svg: &'a str, tag: &str) -> Vec<&'a str> {
        let open = format!("<{tag} ");
        svg.match_indices(&open).map(|(i, _)| &svg[i..i + svg[i..].find('>').unwrap()]).collect()
    }

    fn points(el: &str) -> Vec<(f64, f64)> {
        attr(el, "points").unwrap_or_default().split_whitespace().filter_map(|p| p.split_once(',')).map(|(x, y)| (x.parse().unwrap(), y.parse().unwrap())).collect()
    }

    /// The legend box: (x0, y0, x1, y1).
    fn legend_box(svg: &str) -> (f64, f64, f64, f64) {
        let border = format!("#{:02X}{:02X}{:02X}", LEGEND_BORDER.0, LEGEND_BORDER.1, LEGEND_BORDER.2);
        let rect = elements(svg, "rect").into_iter().find(|r| attr(r, "stroke").as_deref() == Some(border.as_str())).expect("a legend box");
        let (x, y) = (num(rect, "x"), num(rect, "y"));
        (x, y, x + num(rect, "width"), y + num(rect, "height"))
    }

    /// Asserts that no marker, bar or data line reaches the legend box.
    fn assert_legend_clear_of_data(svg: &str) {
        let (lx, ly, lx1, ly1) = legend_box(svg);
        let inside = |x: f64, y: f64| x >= lx && x <= lx1 && y >= ly && y <= ly1;
        for c in elements(svg, "circle") {
            let (x, y) = (num(c, "cx"), num(c, "cy"));
            assert!(inside(x, y) || x < lx, "marker at ({x}, {y}) overlaps or passes the legend at x = {lx}");
        }
        for r in elements(svg, "rect").into_iter().filter(|r| attr(r, "opacity").as_deref() == Some("0.85")) {
            let right = num(r, "x") + num(r, "width");
            assert!(right < lx || inside(num(r, "x"), num(r, "y")), "bar ends at x = {right}, legend starts at {lx}");
        }
        for l in elements(svg, "polyline") {
            let pts = points(l);
            assert!(pts.iter().all(|&(x, y)| inside(x, y)) || pts.iter().all(|&(x, _)| x < lx), "a line crosses into the legend: {pts:?}");
        }
    }

    /// The legend's line swatches, one per row: the number of dash segments in each.
    fn swatch_segments(svg: &str) -> Vec<usize> {
        let (lx, ly, lx1, ly1) = legend_box(svg);
        let mut rows: Vec<(i64, usize)> = Vec::new();
        for l in elements(svg, "polyline") {
            let pts = points(l);
            if pts.len() == 2 && pts[0].1 == pts[1].1 && pts.iter().all(|&(x, y)| x >= lx && x <= lx1 && y >= ly && y <= ly1) {
                let y = pts[0].1 as i64;
                match rows.iter_mut().find(|r| r.0 == y) {
                    Some(r) => r.1 += 1,
                    None => rows.push((y, 1)),
                }
            }
        }
        rows.into_iter().map(|r| r.1).collect()
    }

    fn min_font(svg: &str) -> f64 {
        elements(svg, "text").iter().map(|t| num(t, "font-size")).fold(f64::INFINITY, f64::min)
    }

    fn record(name: &str, acc: &[f64]) -> RunRecord {
        let mut r = RunRecord::new(name, "test", serde_json::Value::Null, "cpu".into(), "toy".into(), "smoke".into());
        for (e, &a) in acc.iter().enumerate() {
            let mut ep = EpochRecord { epoch: e + 1, lr: 0.1, losses: Default::default(), metrics: Default::default(), seconds: 1.0, images_per_s: 1.0 };
            ep.metrics.insert("test_acc".into(), a);
            ep.metrics.insert("train_acc".into(), a + 0.05);
            r.epochs.push(ep);
        }
        r
    }

    #[test]
    fn legends_sit_beside_the_data_never_over_it() {
        // a series that runs through every corner of the plot area: no corner is free
        let corners = Series { name: "corners".into(), points: vec![(0.0, 0.0, 0.0), (1.0, 100.0, 0.0), (2.0, 0.0, 0.0), (3.0, 100.0, 0.0)] };
        let other = Series { name: "a longer second label".into(), points: vec![(0.0, 50.0, 5.0), (3.0, 60.0, 5.0)] };
        assert_legend_clear_of_data(&lines("sweep", "T", "test accuracy (%)", &[corners, other], false).svg);
        let (a, b) = (record("teacher", &[0.1, 0.9, 0.5]), record("student", &[0.9, 0.1, 0.95]));
        assert_legend_clear_of_data(&curves("runs", &["test_acc", "train_acc"], &[&a, &b]).svg);
        assert_legend_clear_of_data(&bars("bars", "test accuracy (%)", &[Bar::new("a", 99.0, 1.0).with_reference(97.0), Bar::new("b", 98.0, 0.5)]).svg);
    }

    #[test]
    fn legend_swatches_show_each_dash_style() {
        let (a, b) = (record("teacher", &[0.5, 0.6]), record("student", &[0.4, 0.5]));
        // two runs × two keys: teacher/student share a colour per run, test solid, train dashed
        let segments = swatch_segments(&curves("runs", &["test_acc", "train_acc"], &[&a, &b]).svg);
        assert_eq!(segments.len(), 4, "one swatch per series");
        assert_eq!(segments[0], 1, "test: solid, one segment");
        assert!(segments[1] > 1, "train: dashed, several segments");
        assert_eq!(segments[0], segments[2]);
        assert_eq!(segments[1], segments[3]);
        let styles: std::collections::BTreeSet<usize> = (0..4).map(|k| dash_segments(0, 24, Dash::nth(k)).len()).collect();
        assert_eq!(styles.len(), 4, "four distinguishable dash styles");
    }

    #[test]
    fn bars_start_at_zero_and_labels_clear_the_error_caps() {
        let svg = bars("bars", "test accuracy (%)", &[Bar::new("a", 80.0, 2.0), Bar::new("b", 40.0, 2.0).with_reference(45.0)]).svg;
        let filled: Vec<&str> = elements(&svg, "rect").into_iter().filter(|r| attr(r, "opacity").as_deref() == Some("0.85")).collect();
        assert_eq!(filled.len(), 2);
        let (h0, h1) = (num(filled[0], "height"), num(filled[1], "height"));
        assert!((h0 / h1 - 2.0).abs() < 0.03, "heights from a zero baseline: 80 is twice 40, got {h0} / {h1}");
        assert_eq!(num(filled[0], "y") + h0, num(filled[1], "y") + h1, "one baseline");
        // the mean's label sits above its top error cap: both bars' labels end above their caps
        for (bar, label) in filled.iter().zip(["80.00", "40.00"]) {
            let x = num(bar, "x") + num(bar, "width") / 2.0;
            let cap_y = elements(&svg, "polyline").iter().map(|l| points(l)).filter(|p| p.len() == 2 && p[0].1 == p[1].1 && p[0].0 < x && p[1].0 > x).map(|p| p[0].1).fold(f64::INFINITY, f64::min);
            let text = svg.match_indices(&format!("\n{label}\n")).next().map(|(i, _)| &svg[svg[..i].rfind("<text").unwrap()..i]).expect("value label");
            assert_eq!(attr(text, "dy").as_deref(), Some("-0.5ex"), "anchored by its bottom edge");
            assert!(num(text, "y") < cap_y - 1.0, "label {label} at y = {} reaches the cap at {cap_y}", num(text, "y"));
        }
        assert!(svg.contains("paper&apos;s number") && svg.contains("\n45.0\n"), "the reference has a legend row and its value");
    }

    /// `(x, y, text)` of every `<text>` element (its first line of content).
    fn texts(svg: &str) -> Vec<(f64, f64, String)> {
        svg.match_indices("<text ").map(|(i, _)| {
            let el = &svg[i..i + svg[i..].find('>').unwrap()];
            let body = &svg[i + el.len() + 1..];
            let content = body[..body.find("</text>").unwrap()].trim();
            (num(el, "x"), num(el, "y"), content.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&apos;", "'").replace("&quot;", "\""))
        }).collect()
    }

    fn canvas_width(svg: &str) -> f64 {
        Figure::new("", svg.to_string()).size().0
    }

    #[test]
    fn long_titles_wrap_inside_the_canvas() {
        let title = "Online knowledge distillation on fashion-mnist (ConvNet-3 (w16) & ConvNet-3 (w16), cpu profile): every peer and the ensemble";
        let svg = bars(title, "test accuracy (%)", &[Bar::new("a", 1.0, 0.0)]).svg;
        let width = canvas_width(&svg);
        let title_px = TITLE_FONT as f64 * 0.806;
        let lines: Vec<(f64, f64, String)> = texts(&svg).into_iter().filter(|t| t.1 < 80.0 && title.contains(t.2.as_str())).collect();
        assert!(lines.len() >= 2, "wrapped: {lines:?}");
        assert_eq!(lines.iter().map(|t| t.2.as_str()).collect::<Vec<_>>().join(" "), title, "every word kept, in order");
        for (x, _, line) in &lines {
            let half = text_width(line, title_px) / 2.0;
            assert!(x - half >= 0.0 && x + half <= width, "title line `{line}` spans {:.0}..{:.0} of a {width}-px canvas", x - half, x + half);
        }
    }

    #[test]
    fn each_series_of_one_run_has_its_own_colour() {
        let mut r = record("OKDCR", &[0.5, 0.6, 0.7]);
        for e in &mut r.epochs {
            e.metrics.insert("peer0_acc".into(), 0.4);
            e.metrics.insert("ens_acc".into(), 0.45);
        }
        let svg = curves("peers", &["test_acc", "peer0_acc", "ens_acc"], &[&r]).svg;
        let colours: std::collections::BTreeSet<String> = elements(&svg, "polyline").iter().filter(|l| points(l).len() == 3).filter_map(|l| attr(l, "stroke")).collect();
        assert_eq!(colours.len(), 3, "three series, three colours: {colours:?}");
        assert!(svg.contains("peer 0 accuracy") && svg.contains("ensemble accuracy") && !svg.contains("peer0_acc"), "legend rows in words");
        assert_eq!([metric_words("head_s3_acc"), metric_words("w1"), metric_words("intra0"), metric_words("avg_acc")], ["S3 head accuracy", "weight of peer 1", "intra-model distance, peer 0", "mean peer accuracy"]);
    }

    #[test]
    fn bars_past_the_palette_change_style_and_labels_never_collide() {
        let items: Vec<Bar> = (0..12).map(|i| Bar::new(format!("method number {i} with a long name"), 50.0 + i as f64, 1.0)).collect();
        let svg = bars("many", "test accuracy (%)", &items).svg;
        let filled: Vec<&str> = elements(&svg, "rect").into_iter().filter(|r| attr(r, "fill").is_some_and(|f| f != "none" && f != "#FFFFFF")).collect();
        assert_eq!(filled.len(), 12);
        let look = |r: &str| (attr(r, "fill"), attr(r, "opacity"));
        let looks: std::collections::BTreeSet<_> = filled.iter().map(|r| look(r)).collect();
        assert_eq!(looks.len(), 12, "no two bars look alike");
        let outlined = elements(&svg, "rect").into_iter().filter(|r| attr(r, "fill").as_deref() == Some("none") && attr(r, "stroke").is_some_and(|s| s != "#AAAAAA")).count();
        assert_eq!(outlined, 2, "bars 11 and 12 are outlined");
        // the category labels, wrapped: no two lines on one row overlap
        let px = TICK_FONT as f64 * 0.806;
        let mut rows: std::collections::BTreeMap<i64, Vec<(f64, f64)>> = Default::default();
        for (x, y, t) in texts(&svg).into_iter().filter(|t| "method number with a long name 0 1 2 3 4 5 6 7 8 9 10 11".contains(t.2.as_str()) && !t.2.is_empty()) {
            rows.entry(y as i64).or_default().push((x - text_width(&t, px) / 2.0, x + text_width(&t, px) / 2.0));
        }
        assert!(rows.len() >= 2, "labels wrapped onto several lines");
        for spans in rows.values_mut() {
            spans.sort_by(|a, b| a.0.total_cmp(&b.0));
            for w in spans.windows(2) {
                assert!(w[0].1 <= w[1].0, "labels overlap: {w:?}");
            }
        }
    }

    #[test]
    fn text_is_readable_and_axes_are_titled_in_words() {
        let a = record("run", &[0.5, 0.6]);
        let c = curves("run", &["test_acc"], &[&a]).svg;
        for svg in [&c, &bars("b", "test accuracy (%)", &[Bar::new("a", 1.0, 0.1)]).svg, &lines("l", "T", "y", &[Series { name: "s".into(), points: vec![(1.0, 1.0, 0.0)] }], false).svg] {
            assert!(min_font(svg) >= 11.0, "smallest text {} px", min_font(svg));
        }
        assert!(c.contains("test accuracy (%)") && !c.contains("test_acc"), "axis title in words");
        assert_eq!(axis_title("peer0_acc"), "peer 0 accuracy (%)");
        assert_eq!(axis_title("ce"), "cross-entropy");
    }
}
