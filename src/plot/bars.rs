//! Bar charts with error bars: methods side by side, mean ± std over seeds, and optional
//! reference marks (e.g. the paper's number for each bar).
use super::{padded_range, Figure, PALETTE};
use plotters::prelude::*;

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
}

impl Bar {
    /// A bar without a reference.
    pub fn new(label: impl Into<String>, mean: f64, std: f64) -> Bar {
        Bar { label: label.into(), mean, std, reference: None }
    }
    /// Adds a reference mark.
    pub fn with_reference(mut self, value: f64) -> Bar {
        self.reference = Some(value);
        self
    }
    /// Mean and sample std of `values` as a bar.
    pub fn from_values(label: impl Into<String>, values: &[f64]) -> Bar {
        let (m, s) = mean_std(values);
        Bar::new(label, m, s)
    }
}

/// Mean and sample standard deviation (0 for one value).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let m = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 { values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (m, var.sqrt())
}

/// A bar chart; the y axis is zoomed to the bars (not from zero) when they are all far from it.
pub fn bars(title: &str, y_label: &str, items: &[Bar]) -> Figure {
    let n = items.len().max(1);
    let values = items.iter().flat_map(|b| [b.mean - b.std, b.mean + b.std].into_iter().chain(b.reference));
    let (y_lo, y_hi) = padded_range(values, false);
    let y_lo = if y_lo > 0.0 && y_lo < (y_hi - y_lo) { 0.0 } else { y_lo };
    let width = (640).max(90 * n as u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, 400)).into_drawing_area();
        root.fill(&WHITE).ok();
        let labels: Vec<String> = items.iter().map(|b| b.label.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), y_lo..y_hi)
            .expect("non-empty ranges");
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 { labels.get(i as usize).cloned().unwrap_or_default() } else { String::new() }
            })
            .y_desc(y_label)
            .light_line_style(WHITE).bold_line_style(RGBColor(225, 225, 225))
            .draw()
            .ok();
        for (i, b) in items.iter().enumerate() {
            let x = i as f64;
            let color = PALETTE[i % PALETTE.len()];
            chart.draw_series(std::iter::once(Rectangle::new([(x - 0.35, y_lo.max(0.0).min(b.mean)), (x + 0.35, b.mean)], color.mix(0.85).filled()))).ok();
            if b.std > 0.0 {
                let line = |a: (f64, f64), c: (f64, f64)| PathElement::new(vec![a, c], BLACK.stroke_width(2));
                chart
                    .draw_series([
                        line((x, b.mean - b.std), (x, b.mean + b.std)),
                        line((x - 0.1, b.mean - b.std), (x + 0.1, b.mean - b.std)),
                        line((x - 0.1, b.mean + b.std), (x + 0.1, b.mean + b.std)),
                    ])
                    .ok();
            }
            if let Some(r) = b.reference {
                chart.draw_series(std::iter::once(PathElement::new(vec![(x - 0.4, r), (x + 0.4, r)], BLACK.stroke_width(3)))).ok();
            }
            chart
                .draw_series(std::iter::once(Text::new(format!("{:.2}", b.mean), (x - 0.2, b.mean + b.std + (y_hi - y_lo) * 0.02), ("sans-serif", 12))))
                .ok();
        }
        root.present().ok();
    }
    Figure { svg, title: title.into() }
}
