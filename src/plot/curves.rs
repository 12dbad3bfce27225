//! Training curves: metrics per epoch for several runs overlaid.
use super::{metric_words, padded_range, Dash, Figure, LegendEntry, Swatch};
use crate::record::RunRecord;
use plotters::prelude::*;

/// A palette that stays readable on white (matplotlib's tab10).
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// `keys` (metrics such as `test_acc`, or losses such as `ce`) over epochs. Several runs: one
/// colour per run and one dash style per key (solid for the first: e.g. test solid, train
/// dashed). One run: one colour per key, all solid. Accuracies (keys ending in `_acc`) are shown
/// in percent; axis titles and legend rows name metrics in words.
pub fn curves(title: &str, keys: &[&str], runs: &[&RunRecord]) -> Figure {
    let pct = keys.iter().all(|k| k.ends_with("_acc"));
    let scale = if pct { 100.0 } else { 1.0 };
    let one_run = runs.len() == 1;
    let mut series = Vec::new();
    for (r, run) in runs.iter().enumerate() {
        for (k, key) in keys.iter().enumerate() {
            let pts: Vec<(f64, f64)> = run.series(key).into_iter().map(|(e, v)| (e as f64, v * scale)).collect();
            if pts.is_empty() {
                continue;
            }
            let label = match (keys.len() > 1, one_run) {
                (false, _) => run.name.clone(),
                (true, true) => metric_words(key),
                (true, false) => format!("{} · {}", run.name, metric_words(key)),
            };
            let (color, dash) = if one_run { (PALETTE[k % PALETTE.len()], Dash::nth(k / PALETTE.len())) } else { (PALETTE[r % PALETTE.len()], Dash::nth(k + r / PALETTE.len())) };
            series.push((LegendEntry::new(label, color, Swatch::Line(dash)), dash, pts));
        }
    }
    let x_max = series.iter().flat_map(|s| s.2.iter().map(|p| p.0)).fold(2.0f64, f64::max);
    let (y_lo, y_hi) = padded_range(series.iter().flat_map(|s| s.2.iter().map(|p| p.1)), false);
    let y_desc = match (keys, pct) {
        ([key], _) => super::axis_title(key),
        (_, true) => "accuracy (%)".to_string(),
        _ => "loss".to_string(),
    };
    let legend: Vec<LegendEntry> = series.iter().map(|s| s.0.clone()).collect();
    super::xy_chart(title, 1.0..x_max, y_lo..y_hi, &legend, |chart| {
        super::readable(&mut chart.configure_mesh())
            .x_labels((x_max as usize).min(12))
            .x_label_formatter(&|x| format!("{}", x.round() as i64))
            .x_desc("epoch")
            .y_desc(y_desc)
            .y_label_formatter(&|v| super::tick(*v))
            .draw()
            .ok();
        for (entry, dash, pts) in &series {
            super::draw_dashed(chart, pts, *dash, entry.color.stroke_width(2));
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, entry.color.filled()))).ok();
        }
    })
}
