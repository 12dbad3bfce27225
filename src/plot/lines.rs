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

/// A line plot; `log_x` spaces x logarithmically (for T, α, learning rates): the axis title says
/// so and its ticks sit at the swept values themselves, labelled exactly (`5e-5`, not a rounded
/// `0`). Each series has its own colour (and a dash style after the tenth); error bars (with caps)
/// where a point's std is above 0.
pub fn lines(title: &str, x_label: &str, y_label: &str, series: &[Series], log_x: bool) -> Figure {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let tx = |x: f64| if log_x { x.max(1e-12).log10() } else { x };
    let (x_lo, x_hi) = padded_range(series.iter().flat_map(|s| s.points.iter().map(|p| tx(p.0))), false);
    let (y_lo, y_hi) = padded_range(series.iter().flat_map(|s| s.points.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2])), false);
    let style = |i: usize| (PALETTE[i % PALETTE.len()], Dash::nth(i / PALETTE.len()));
    let mut legend: Vec<LegendEntry> = series.iter().enumerate().map(|(i, s)| LegendEntry::new(s.name.clone(), style(i).0, Swatch::Line(style(i).1))).collect();
    if series.iter().any(|s| s.points.iter().any(|p| p.2 > 0.0)) {
        legend.push(LegendEntry::new("± std over runs", RGBColor(90, 90, 90), Swatch::ErrorBar));
    }
    let mut swept: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).filter(|x| x.is_finite()).collect();
    swept.sort_by(f64::total_cmp);
    swept.dedup();
    let x_desc = if log_x { format!("{x_label} (log scale)") } else { x_label.to_string() };
    let cap = (x_hi - x_lo) * 0.008;
    super::framed(title, super::PLOT_W, &legend, |area| {
        let mut chart = ChartBuilder::on(area).margin(12).x_label_area_size(44).y_label_area_size(64).build_cartesian_2d(x_lo..x_hi, y_lo..y_hi).expect("non-empty ranges");
        let mut mesh = chart.configure_mesh();
        super::readable(&mut mesh).x_desc(x_desc.as_str()).y_desc(y_label).y_label_formatter(&|v| super::tick(*v));
        if log_x {
            mesh.disable_x_mesh().x_labels(0);
        } else {
            mesh.x_label_formatter(&|x| exact(*x));
        }
        mesh.draw().ok();
        if log_x {
            // ticks at the swept values, in the same style as the mesh's
            let (bx, by) = area.get_base_pixel();
            let text = TextStyle::from(("sans-serif", super::TICK_FONT).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
            for &x in &swept {
                let (px, py) = chart.backend_coord(&(tx(x), y_lo));
                area.draw(&PathElement::new(vec![(px - bx, py - by), (px - bx, py - by + 5)], BLACK.stroke_width(1))).ok();
                area.draw(&Text::new(exact(x), (px - bx, py - by + 8), text.clone())).ok();
            }
            chart.draw_series(swept.iter().map(|&x| PathElement::new(vec![(tx(x), y_lo), (tx(x), y_hi)], RGBColor(225, 225, 225).stroke_width(1)))).ok();
        }
        for (i, s) in series.iter().enumerate() {
            let (color, dash) = style(i);
            let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (tx(p.0), p.1)).collect();
            super::draw_dashed(&mut chart, &pts, dash, color.stroke_width(2));
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled()))).ok();
            for p in s.points.iter().filter(|p| p.2 > 0.0) {
                let (x, lo, hi) = (tx(p.0), p.1 - p.2, p.1 + p.2);
                let bar = |a: (f64, f64), b: (f64, f64)| PathElement::new(vec![a, b], color.stroke_width(2));
                chart.draw_series([bar((x, lo), (x, hi)), bar((x - cap, lo), (x + cap, lo)), bar((x - cap, hi), (x + cap, hi))]).ok();
            }
        }
    })
}

/// A tick value to four significant digits: `0.5`, `7`, `1000`, `0.01453`, and in scientific
/// notation where decimals would hide it (`5e-5`, `4.842e-3`).
pub fn exact(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 { "0".into() } else { format!("{v}") };
    }
    let e = v.abs().log10().floor() as i32;
    let trim = |s: String| if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if (-2..5).contains(&e) {
        trim(format!("{v:.*}", (3 - e).max(0) as usize))
    } else {
        format!("{}e{e}", trim(format!("{:.3}", v / 10f64.powi(e))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axes_are_labelled_exactly_at_the_swept_values() {
        assert_eq!([exact(5e-5), exact(1.5e-4), exact(0.25), exact(7.0), exact(1000.0), exact(0.0), exact(0.0048426), exact(0.0145275)], ["5e-5", "1.5e-4", "0.25", "7", "1000", "0", "4.843e-3", "0.01453"]);
        let s = Series { name: "MGD".into(), points: vec![(2e-5, 80.0, 0.0), (7e-5, 81.0, 0.0), (2e-4, 80.5, 0.0)] };
        let svg = lines("α sweep", "α", "test accuracy (%)", &[s], true).svg;
        for label in ["2e-5", "7e-5", "2e-4", "α (log scale)"] {
            assert!(svg.contains(&format!("\n{label}\n")), "tick or title {label} missing");
        }
        assert!(!svg.contains("\n0\n"), "no rounded-away tick");
    }
}
