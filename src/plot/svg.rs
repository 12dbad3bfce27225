//! A smaller SVG for notebook outputs: plotters writes one element per grid line, tick and dash
//! with every default attribute spelled out; runs of segments in one style become one `<path>`.
//! Drawn the same (the PNG beside it is rasterised from the original).

/// `svg` with consecutive `<line>`/`<polyline>` elements of one style merged into one `<path>`,
/// `opacity="1"` dropped and font sizes rounded to 0.1 px.
pub fn compact(svg: &str) -> String {
    let mut out = String::with_capacity(svg.len() / 2);
    let mut run: Option<(String, String)> = None; // (style attributes, path data)
    let flush = |out: &mut String, run: &mut Option<(String, String)>| {
        if let Some((style, d)) = run.take() {
            out.push_str(&format!("<path fill=\"none\"{style} d=\"{d}\"/>\n"));
        }
    };
    for line in svg.lines() {
        let line = line.replace(" opacity=\"1\"", "");
        match segments(&line) {
            Some((style, d)) => {
                match &mut run {
                    Some((s, acc)) if *s == style => acc.push_str(&d),
                    _ => {
                        flush(&mut out, &mut run);
                        run = Some((style, d));
                    }
                }
            }
            None => {
                flush(&mut out, &mut run);
                out.push_str(&round_font_size(&line));
                out.push('\n');
            }
        }
    }
    flush(&mut out, &mut run);
    out
}

/// A `<line …/>` or unfilled `<polyline …/>` on one line as (its other attributes, path data).
fn segments(el: &str) -> Option<(String, String)> {
    let el = el.trim();
    let attrs: Vec<(&str, &str)> = if let Some(rest) = el.strip_prefix("<line ") {
        parse_attrs(rest.strip_suffix("/>")?)
    } else if let Some(rest) = el.strip_prefix("<polyline ") {
        parse_attrs(rest.strip_suffix("/>")?)
    } else {
        return None;
    };
    let get = |k: &str| attrs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let points: Vec<(f64, f64)> = if el.starts_with("<line") {
        let n = |k: &str| get(k).and_then(|v| v.parse::<f64>().ok());
        vec![(n("x1")?, n("y1")?), (n("x2")?, n("y2")?)]
    } else {
        if get("fill").is_some_and(|f| f != "none") {
            return None;
        }
        get("points")?.split_whitespace().map(|p| p.split_once(',').and_then(|(x, y)| Some((x.parse().ok()?, y.parse().ok()?)))).collect::<Option<_>>()?
    };
    if points.len() < 2 {
        return None;
    }
    let style: String = attrs.iter().filter(|(n, _)| !matches!(*n, "x1" | "y1" | "x2" | "y2" | "points" | "fill")).map(|(n, v)| format!(" {n}=\"{v}\"")).collect();
    let mut d = String::new();
    for (i, (x, y)) in points.iter().enumerate() {
        d += &format!("{}{x} {y}", if i == 0 { "M" } else { "L" });
    }
    Some((style, d))
}

/// `name="value"` pairs of an element's attribute text.
fn parse_attrs(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].trim();
        let after = &rest[eq + 2..];
        let Some(end) = after.find('"') else { break };
        out.push((name, &after[..end]));
        rest = after[end + 1..].trim_start();
    }
    out
}

fn round_font_size(line: &str) -> String {
    let key = "font-size=\"";
    let Some(i) = line.find(key) else { return line.to_string() };
    let start = i + key.len();
    let Some(len) = line[start..].find('"') else { return line.to_string() };
    match line[start..start + len].parse::<f64>() {
        Ok(v) => format!("{}{}{}", &line[..start], (v * 10.0).round() / 10.0, &line[start + len..]),
        Err(_) => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_one_style_become_one_path_and_draw_the_same() {
        let svg = "<svg width=\"20\" height=\"20\" xmlns=\"http://www.w3.org/2000/svg\">\n\
            <line opacity=\"1\" stroke=\"#000000\" stroke-width=\"1\" x1=\"1\" y1=\"2\" x2=\"1\" y2=\"9\"/>\n\
            <line opacity=\"1\" stroke=\"#000000\" stroke-width=\"1\" x1=\"3\" y1=\"2\" x2=\"3\" y2=\"9\"/>\n\
            <polyline fill=\"none\" opacity=\"1\" stroke=\"#FF0000\" stroke-width=\"2\" points=\"1,1 5,5 9,1 \"/>\n\
            <text x=\"1\" font-size=\"9.67741935483871\" opacity=\"1\">\nT\n</text>\n</svg>";
        let c = compact(svg);
        assert_eq!(c.matches("<path").count(), 2, "{c}");
        assert!(c.contains("d=\"M1 2L1 9M3 2L3 9\"") && c.contains("d=\"M1 1L5 5L9 1\""), "{c}");
        assert!(c.contains("font-size=\"9.7\"") && !c.contains("opacity=\"1\""), "{c}");
        let (a, b) = (super::super::raster::rasterise("a", svg, 1.0).unwrap(), super::super::raster::rasterise("b", &c, 1.0).unwrap());
        assert_eq!(a.data, b.data, "the same pixels");
    }
}
