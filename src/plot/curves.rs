//! Training curves: one metric per epoch for several runs overlaid.
use super::Figure;
use crate::train::RunRecord;
use plotters::prelude::*;

/// A palette that stays readable on white.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// `key` (a metric such as `test_acc`, or a loss such as `loss`) over epochs, one line per run.
/// Accuracies (keys ending in `_acc`) are shown in percent.
pub fn curves(title: &str, key: &str, runs: &[&RunRecord]) -> Figure {
    let pct = key.ends_with("_acc");
    let scale = if pct { 100.0 } else { 1.0 };
    let series: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .map(|r| (r.name.clone(), r.series(key).into_iter().map(|(e, v)| (e as f64, v * scale)).collect()))
        .collect();
    let xs = series.iter().flat_map(|(_, s)| s.iter().map(|p| p.0));
    let ys: Vec<f64> = series.iter().flat_map(|(_, s)| s.iter().map(|p| p.1)).filter(|v| v.is_finite()).collect();
    let x_max = xs.fold(1.0f64, f64::max).max(2.0);
    let (mut y_min, mut y_max) = ys.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.08).max(1e-3);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
        root.fill(&WHITE).ok();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(1.0..x_max, (y_min - pad)..(y_max + pad))
            .expect("valid ranges");
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(if pct { format!("{key} (%)") } else { key.to_string() })
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .ok();
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map(|s| s.label(name.clone()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))))
                .ok();
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).ok();
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .ok();
        root.present().ok();
    }
    Figure { svg, title: title.into() }
}
