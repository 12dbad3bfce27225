//! Training curves: metrics per epoch for several runs overlaid.
use super::{padded_range, Figure};
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

/// `keys` (metrics such as `test_acc`, or losses such as `ce`) over epochs, one colour per run,
/// one line style per key (solid for the first, dashed for the others: e.g. test vs train).
/// Accuracies (keys ending in `_acc`) are shown in percent.
pub fn curves(title: &str, keys: &[&str], runs: &[&RunRecord]) -> Figure {
    let pct = keys.iter().all(|k| k.ends_with("_acc"));
    let scale = if pct { 100.0 } else { 1.0 };
    let mut series = Vec::new();
    for (r, run) in runs.iter().enumerate() {
        for (k, key) in keys.iter().enumerate() {
            let pts: Vec<(f64, f64)> = run.series(key).into_iter().map(|(e, v)| (e as f64, v * scale)).collect();
            if !pts.is_empty() {
                let label = if keys.len() > 1 { format!("{} · {key}", run.name) } else { run.name.clone() };
                series.push((label, r, k, pts));
            }
        }
    }
    let x_max = series.iter().flat_map(|s| s.3.iter().map(|p| p.0)).fold(2.0f64, f64::max);
    let (y_lo, y_hi) = padded_range(series.iter().flat_map(|s| s.3.iter().map(|p| p.1)), false);
    let y_desc = if pct { format!("{} (%)", keys.join(", ")) } else { keys.join(", ") };
    super::xy_chart(title, 1.0..x_max, y_lo..y_hi, |chart| {
        chart
            .configure_mesh()
            .x_labels((x_max as usize).min(12))
            .x_label_formatter(&|x| format!("{}", x.round() as i64))
            .x_desc("epoch")
            .y_desc(y_desc)
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(225, 225, 225))
            .draw()
            .ok();
        for (label, r, k, pts) in &series {
            let color = PALETTE[r % PALETTE.len()];
            let style = color.stroke_width(2);
            let drawn = if *k == 0 {
                chart.draw_series(LineSeries::new(pts.iter().copied(), style))
            } else {
                chart.draw_series(DashedLineSeries::new(pts.iter().copied(), 6, 4, style))
            };
            if let Ok(s) = drawn {
                s.label(label.clone()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            }
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).ok();
        }
    })
}
