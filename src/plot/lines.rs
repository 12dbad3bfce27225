//! Line plots over a swept parameter, with error bars (mean ± std over seeds).
use super::{padded_range, Dash, Figure, LegendEntry, Swatch, PALETTE};
use plotters::prelude::*;

/// One line: points `(x, mean, std)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// `(x, mean, std)` in x order.
    pub points: Vec<(f64, f64, f64)>,
}

/// A line plot; `log_x` spaces x logarithmically (for T, α, learning rates). Each series has its
/// own colour (and a dash style after the tenth); error bars (with caps) where a point's std is above 0.
pub fn lines(title: &str, x_label: &str, y_label: &str, series: &[Series], log_x: bool) -> Figure {
    let tx = |x: f64| if log_x { x.max(1e-12).log10() } else { x };
    let (x_lo, x_hi) = padded_range(series.iter().flat_map(|s| s.points.iter().map(|p| tx(p.0))), false);
    let (y_lo, y_hi) = padded_range(series.iter().flat_map(|s| s.points.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2])), false);
    let fmt = |v: f64| format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string();
    let style = |i: usize| (PALETTE[i % PALETTE.len()], Dash::nth(i / PALETTE.len()));
    let mut legend: Vec<LegendEntry> = series.iter().enumerate().map(|(i, s)| LegendEntry::new(s.name.clone(), style(i).0, Swatch::Line(style(i).1))).collect();
    if series.iter().any(|s| s.points.iter().any(|p| p.2 > 0.0)) {
        legend.push(LegendEntry::new("± std over runs", RGBColor(90, 90, 90), Swatch::ErrorBar));
    }
    let cap = (x_hi - x_lo) * 0.008;
    super::xy_chart(title, x_lo..x_hi, y_lo..y_hi, &legend, |chart| {
        super::readable(&mut chart.configure_mesh()).x_desc(x_label).y_desc(y_label).y_label_formatter(&|v| super::tick(*v)).x_label_formatter(&|x| if log_x { fmt(10f64.powf(*x)) } else { fmt(*x) }).draw().ok();
        for (i, s) in series.iter().enumerate() {
            let (color, dash) = style(i);
            let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (tx(p.0), p.1)).collect();
            super::draw_dashed(chart, &pts, dash, color.stroke_width(2));
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled()))).ok();
            for p in s.points.iter().filter(|p| p.2 > 0.0) {
                let (x, lo, hi) = (tx(p.0), p.1 - p.2, p.1 + p.2);
                let bar = |a: (f64, f64), b: (f64, f64)| PathElement::new(vec![a, b], color.stroke_width(2));
                chart.draw_series([bar((x, lo), (x, hi)), bar((x - cap, lo), (x + cap, lo)), bar((x - cap, hi), (x + cap, hi))]).ok();
            }
        }
    })
}
