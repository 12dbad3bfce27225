//! Bar charts with error bars: methods side by side, mean ± std over seeds, every seed's value
//! as a dot, and optional reference marks (e.g. the paper's number for each bar). Bars always
//! start at zero. [`differences`] draws paired differences with their confidence intervals
//! around zero — the figure that says whether a method beats its baseline.
use super::{Figure, LegendEntry, Swatch, PALETTE};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// Label under the bar.
    pub label: String,
    /// Height.
    pub mean: f64,
    /// Error-bar half-height (0 = none).
    pub std: f64,
    /// A reference value drawn as a black tick (the paper's number), if any.
    pub reference: Option<f64>,
    /// Every run's value, drawn as dots over the bar (empty: none).
    pub points: Vec<f64>,
}

impl Bar {
    /// A bar without a reference.
    pub fn new(label: impl Into<String>, mean: f64, std: f64) -> Bar {
        Bar { label: label.into(), mean, std, reference: None, points: Vec::new() }
    }
    /// Adds a reference mark.
    pub fn with_reference(mut self, value: f64) -> Bar {
        self.reference = Some(value);
        self
    }
    /// Mean and sample std of `values` as a bar, each value a dot over it (when there are
    /// several).
    pub fn from_values(label: impl Into<String>, values: &[f64]) -> Bar {
        let (m, s) = mean_std(values);
        Bar { points: if values.len() > 1 { values.to_vec() } else { Vec::new() }, ..Bar::new(label, m, s) }
    }
}

/// Mean and sample standard deviation (0 for one value).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let m = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 { values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (m, var.sqrt())
}

/// The y range of a bar chart: from zero (or below, for negative values) to above the highest
/// bar, error cap, reference and the value label over it.
pub(crate) fn bar_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.filter(|v| v.is_finite()).fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let span = (hi - lo).max(1e-3);
    (if lo < 0.0 { lo - span * 0.08 } else { 0.0 }, hi + span * 0.12)
}

fn value_text(v: f64) -> String {
    format!("{v:.2}")
}

/// Font size of category labels in the SVG (the tick labels' size).
const LABEL_PX: f64 = super::TICK_FONT as f64 * 0.806;
/// Line height of wrapped category labels.
const LABEL_LINE: i32 = 15;

/// The width a category needs so that its label, wrapped at spaces, never runs into the next:
/// at least `min`, and the longest word plus a margin.
fn slot_width(labels: &[String], min: u32) -> u32 {
    let word = labels.iter().flat_map(|l| l.split_whitespace()).map(|w| super::text_width(w, LABEL_PX)).fold(0.0, f64::max);
    min.max(word.ceil() as u32 + 14)
}

/// The chart of a bar figure: one category per `labels` entry at x = 0, 1, … (each written
/// under its place, wrapped to its slot), `y` from [`bar_range`], the readable mesh drawn.
fn category_chart<'a, 'b>(
    area: &'a plotters::drawing::DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    labels: &[String],
    y: std::ops::Range<f64>,
    y_label: &str,
) -> plotters::chart::ChartContext<'a, SVGBackend<'b>, plotters::coord::cartesian::Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>
where
    'b: 'a,
{
    let n = labels.len().max(1);
    let (w, _) = area.dim_in_pixel();
    let slot = (w as f64 - 64.0 - 24.0) / n as f64;
    let wrapped: Vec<Vec<String>> = labels.iter().map(|l| super::wrap(l, LABEL_PX, slot - 10.0)).collect();
    let lines = wrapped.iter().map(|l| l.len()).max().unwrap_or(1) as u32;
    let y_lo = y.start;
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(16 + LABEL_LINE as u32 * lines)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), y)
        .expect("non-empty ranges");
    super::readable(&mut chart.configure_mesh())
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|_| String::new())
        .y_desc(y_label)
        .y_label_formatter(&|v| super::tick(*v))
        .draw()
        .ok();
    let (bx, by) = area.get_base_pixel();
    let style = TextStyle::from(("sans-serif", super::TICK_FONT).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    for (i, label) in wrapped.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(i as f64, y_lo));
        for (k, line) in label.iter().enumerate() {
            area.draw(&Text::new(line.clone(), (px - bx, py - by + 8 + LABEL_LINE * k as i32), style.clone())).ok();
        }
    }
    chart
}

/// The fill of the `i`-th bar: the [`PALETTE`] colour; past the palette, the same colours again
/// as a light fill with a solid outline, so no two bars look alike.
fn bar_rectangle(i: usize, corners: [(f64, f64); 2]) -> Vec<Rectangle<(f64, f64)>> {
    let color = PALETTE[i % PALETTE.len()];
    if i < PALETTE.len() {
        vec![Rectangle::new(corners, color.mix(0.85).filled())]
    } else {
        vec![Rectangle::new(corners, color.mix(0.3).filled()), Rectangle::new(corners, color.stroke_width(2))]
    }
}

/// A bar chart from zero: each bar's mean written above its error cap, and the legend (error
/// bar, reference tick) beside the plot. A reference tick carries its value to its right.
pub fn bars(title: &str, y_label: &str, items: &[Bar]) -> Figure {
    let n = items.len().max(1);
    let (y_lo, y_hi) = bar_range(items.iter().flat_map(|b| [b.mean - b.std, b.mean + b.std].into_iter().chain(b.reference).chain(b.points.iter().copied())));
    let has_ref = items.iter().any(|b| b.reference.is_some());
    let mut legend = Vec::new();
    if items.iter().any(|b| b.std > 0.0) {
        legend.push(LegendEntry::new("mean ± std over runs", BLACK, Swatch::ErrorBar));
    }
    if has_ref {
        legend.push(LegendEntry::new("paper's number", BLACK, Swatch::Tick));
    }
    if items.iter().any(|b| !b.points.is_empty()) {
        legend.push(LegendEntry::new("one run (seed)", POINT, Swatch::Point));
    }
    let labels: Vec<String> = items.iter().map(|b| b.label.clone()).collect();
    let slot = slot_width(&labels, if has_ref { 120 } else { 96 });
    let width = super::PLOT_W.max(slot * n as u32 + 88);
    super::framed(title, width, &legend, |area| {
        let mut chart = category_chart(area, &labels, y_lo..y_hi, y_label);
        let above = Pos::new(HPos::Center, VPos::Bottom);
        let right = Pos::new(HPos::Left, VPos::Center);
        let gap = (y_hi - y_lo) * 0.012;
        for (i, b) in items.iter().enumerate() {
            let x = i as f64;
            chart.draw_series(bar_rectangle(i, [(x - 0.35, 0.0), (x + 0.35, b.mean)])).ok();
            if b.std > 0.0 {
                let line = |a: (f64, f64), c: (f64, f64)| PathElement::new(vec![a, c], BLACK.stroke_width(2));
                let (lo, hi) = (b.mean - b.std, b.mean + b.std);
                chart.draw_series([line((x, lo), (x, hi)), line((x - 0.1, lo), (x + 0.1, lo)), line((x - 0.1, hi), (x + 0.1, hi))]).ok();
            }
            chart.draw_series(spread(x + 0.2, &b.points).map(|p| Circle::new(p, 3, POINT.filled()))).ok();
            if let Some(r) = b.reference {
                chart.draw_series(std::iter::once(PathElement::new(vec![(x - 0.4, r), (x + 0.4, r)], BLACK.stroke_width(3)))).ok();
                let style = TextStyle::from(("sans-serif", 14).into_font()).pos(right);
                chart.draw_series(std::iter::once(Text::new(format!("{r:.1}"), (x + 0.41, r), style))).ok();
            }
            // above the error cap, anchored by its bottom edge; above the reference tick only
            // where the tick would cross the label
            let cap = b.points.iter().copied().filter(|v| v.is_finite()).fold((b.mean + b.std).max(b.mean), f64::max);
            let label_h = (y_hi - y_lo) * 0.07;
            let top = match b.reference {
                Some(r) if r >= cap - gap && r <= cap + gap + label_h => r,
                _ => cap,
            };
            let style = TextStyle::from(("sans-serif", super::TICK_FONT).into_font()).pos(above);
            chart.draw_series(std::iter::once(Text::new(value_text(b.mean), (x, top + gap), style))).ok();
        }
    })
}

/// Colour of the per-run dots.
const POINT: RGBColor = RGBColor(60, 60, 60);

/// `values` as dots around x = `x`, spread sideways a little so equal values stay visible.
fn spread(x: f64, values: &[f64]) -> impl Iterator<Item = (f64, f64)> + '_ {
    let n = values.len().max(1) as f64;
    values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(move |(i, &v)| (x + 0.1 * (i as f64 / (n - 1.0).max(1.0) - 0.5), v))
}

/// One paired difference for [`differences`]: its mean, its interval (NaN ends: none, e.g.
/// one seed) and every seed's difference.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    /// The method compared (`label − baseline`).
    pub label: String,
    /// Mean difference.
    pub mean: f64,
    /// Interval ends.
    pub lo: f64,
    /// Interval ends.
    pub hi: f64,
    /// Per-seed differences.
    pub points: Vec<f64>,
    /// Index of its colour in the [`PALETTE`] (the row's place, so a method keeps its colour
    /// across the bars, the curves and this figure).
    pub color: usize,
}

/// Paired differences to a baseline around a dashed zero line: the mean as a dot, its 95 %
/// interval as an error bar, every seed's difference as a small dot, the mean written above
/// (with ✓ where the interval excludes 0). A bar chart from zero hides a 0.4-point gain at
/// 83 %; this figure shows it at its own scale, with its uncertainty.
pub fn differences(title: &str, y_label: &str, items: &[Difference]) -> Figure {
    let values = items.iter().flat_map(|d| [d.mean, d.lo, d.hi].into_iter().chain(d.points.iter().copied()));
    let (y_lo, y_hi) = super::padded_range(values.chain([0.0]), false);
    let y_hi = y_hi + (y_hi - y_lo) * 0.08;
    let legend = vec![LegendEntry::new("mean difference, 95 % CI", BLACK, Swatch::ErrorBar), LegendEntry::new("one seed's difference", POINT, Swatch::Point)];
    let labels: Vec<String> = items.iter().map(|d| d.label.clone()).collect();
    let width = super::PLOT_W.max(slot_width(&labels, 110) * items.len() as u32 + 88);
    super::framed(title, width, &legend, |area| {
        let mut chart = category_chart(area, &labels, y_lo..y_hi, y_label);
        let n = items.len().max(1) as f64;
        chart.draw_series(std::iter::once(PathElement::new(vec![(-0.5, 0.0), (n - 0.5, 0.0)], RGBColor(120, 120, 120).stroke_width(1)))).ok();
        let gap = (y_hi - y_lo) * 0.012;
        for (i, d) in items.iter().enumerate() {
            let (x, color) = (i as f64, PALETTE[d.color % PALETTE.len()]);
            let significant = d.lo > 0.0 || d.hi < 0.0;
            if d.lo.is_finite() && d.hi.is_finite() {
                let line = |a: (f64, f64), c: (f64, f64)| PathElement::new(vec![a, c], BLACK.stroke_width(2));
                chart.draw_series([line((x, d.lo), (x, d.hi)), line((x - 0.1, d.lo), (x + 0.1, d.lo)), line((x - 0.1, d.hi), (x + 0.1, d.hi))]).ok();
            }
            chart.draw_series(std::iter::once(Circle::new((x, d.mean), 6, color.filled()))).ok();
            chart.draw_series(spread(x + 0.25, &d.points).map(|p| Circle::new(p, 3, POINT.filled()))).ok();
            let top = [d.mean, d.hi].into_iter().chain(d.points.iter().copied()).filter(|v| v.is_finite()).fold(d.mean, f64::max);
            let text = format!("{}{}", crate::stats::signed(d.mean), if significant { " ✓" } else { "" });
            let style = TextStyle::from(("sans-serif", super::TICK_FONT).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
            chart.draw_series(std::iter::once(Text::new(text, (x, top + gap), style))).ok();
        }
    })
}

/// Grouped bars: one group per `groups` entry, one bar per series in each (colour and legend row
/// per series), from zero.
pub fn grouped_bars(title: &str, y_label: &str, groups: &[String], series: &[(String, Vec<f64>)]) -> Figure {
    let n = groups.len().max(1);
    let k = series.len().max(1);
    let (y_lo, y_hi) = bar_range(series.iter().flat_map(|s| s.1.iter().copied()));
    let legend: Vec<LegendEntry> = series.iter().enumerate().map(|(i, s)| LegendEntry::new(s.0.clone(), PALETTE[i % PALETTE.len()], Swatch::Bar)).collect();
    let width = super::PLOT_W.max((18 * k as u32 + 16) * n as u32 + 80);
    super::framed(title, width, &legend, |area| {
        let mut chart = category_chart(area, groups, y_lo..y_hi, y_label);
        let w = 0.8 / k as f64;
        for (s, (_, values)) in series.iter().enumerate() {
            let color = PALETTE[s % PALETTE.len()];
            let left = |g: usize| g as f64 - 0.4 + s as f64 * w;
            chart.draw_series(values.iter().enumerate().take(n).map(|(g, &v)| Rectangle::new([(left(g), 0.0), (left(g) + w * 0.9, v)], color.mix(0.85).filled()))).ok();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_range_includes_zero_and_room_for_labels() {
        let (lo, hi) = bar_range([80.0, 85.0, 84.0].into_iter());
        assert_eq!(lo, 0.0);
        assert!(hi > 85.0);
        let (lo, _) = bar_range([-2.0, 3.0].into_iter());
        assert!(lo < -2.0);
    }
}
