//! Line plots over a swept parameter, with error bars (mean ± std over seeds).
use super::{padded_range, Figure, PALETTE};
use plotters::prelude::*;

/// One line: points `(x, mean, std)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// `(x, mean, std)` in x order.
    pub points: Vec<(f64, f64, f64)>,
}

/// A line plot; `log_x` spaces x logarithmically (for T, α, learning rates).
pub fn lines(title: &str, x_label: &str, y_label: &str, series: &[Series], log_x: bool) -> Figure {
    let tx = |x: f64| if log_x { x.max(1e-12).log10() } else { x };
    let (x_lo, x_hi) = padded_range(series.iter().flat_map(|s| s.points.iter().map(|p| tx(p.0))), false);
    let (y_lo, y_hi) = padded_range(series.iter().flat_map(|s| s.points.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2])), false);
    let fmt = |v: f64| format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string();
    super::xy_chart(title, x_lo..x_hi, y_lo..y_hi, |chart| {
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&|x| if log_x { fmt(10f64.powf(*x)) } else { fmt(*x) })
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(225, 225, 225))
            .draw()
            .ok();
        for (i, s) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (tx(p.0), p.1)).collect();
            if let Ok(d) = chart.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2))) {
                d.label(s.name.clone()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            }
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled()))).ok();
            chart
                .draw_series(s.points.iter().filter(|p| p.2 > 0.0).map(|p| PathElement::new(vec![(tx(p.0), p.1 - p.2), (tx(p.0), p.1 + p.2)], color.stroke_width(2))))
                .ok();
        }
    })
}
