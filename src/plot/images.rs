//! Image grids (rows = classes, or any layout) and heat-map overlays (feature attention,
//! Grad-CAM). The raster is encoded once as PNG and embedded in the SVG, so a 100-image grid
//! stays small and crisp (`image-rendering: pixelated`).
use super::Figure;

/// How pixel values are mapped to [0, 255].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Normalise {
    /// Each image stretched to its own min..max (synthetic images, generated patches).
    PerImage,
    /// One min..max over the whole grid (keeps relative brightness).
    PerGrid,
    /// A fixed range, e.g. `(0.0, 1.0)` or `(0.0, 255.0)`.
    Fixed(f32, f32),
}

const GAP: usize = 2;
const LABEL_W: usize = 90;
const TITLE_H: usize = 30;

/// A grid of `shape = [n, c, h, w]` images (`c` = 1 or 3) with `cols` columns; `row_labels`
/// (may be empty) are written left of each row. Pixels that do not fill `shape`, or another
/// channel count, are an [`Error::Shape`](crate::Error::Shape).
pub fn image_grid(title: &str, images: &[f32], shape: [usize; 4], cols: usize, row_labels: &[String], norm: Normalise) -> crate::Result<Figure> {
    check_images(title, images, shape)?;
    Ok(image_grid_unchecked(title, images, shape, cols, row_labels, norm))
}

/// [`image_grid`] for callers that built `images` to `shape` themselves.
pub(crate) fn image_grid_unchecked(title: &str, images: &[f32], shape: [usize; 4], cols: usize, row_labels: &[String], norm: Normalise) -> Figure {
    let rgb = to_rgb(images, shape, norm);
    grid_svg(title, &rgb, [shape[0], shape[2], shape[3]], cols, row_labels)
}

fn check_images(title: &str, images: &[f32], [n, c, h, w]: [usize; 4]) -> crate::Result<()> {
    if c != 1 && c != 3 {
        return Err(crate::Error::shape(format!("{title}: images"), "[n, 1 or 3, h, w]", [n, c, h, w]));
    }
    if images.len() != n * c * h * w || n == 0 {
        return Err(crate::Error::Shape { what: format!("{title}: images"), expected: format!("{} values for [{n}, {c}, {h}, {w}] (n ≥ 1)", n * c * h * w), got: format!("{} values", images.len()) });
    }
    Ok(())
}

/// Images with a heat map blended on top: `maps` is `[n, mh, mw]` (any resolution; each map is
/// normalised to its own range and upsampled to the image), `alpha` the overlay opacity. Arrays
/// that do not match their shapes are an [`Error::Shape`](crate::Error::Shape).
#[allow(clippy::too_many_arguments)]
pub fn heatmap_grid(title: &str, images: &[f32], shape: [usize; 4], maps: &[f32], map_hw: [usize; 2], cols: usize, row_labels: &[String], alpha: f32) -> crate::Result<Figure> {
    heatmap_grid_columns(title, images, shape, maps, map_hw, cols, row_labels, &[], alpha)
}

/// [`heatmap_grid`] with a header over each column (`column_labels`: one per column, e.g. each
/// image's class, or empty). A colour scale under the grid says what low and high mean.
#[allow(clippy::too_many_arguments)]
pub fn heatmap_grid_columns(title: &str, images: &[f32], shape: [usize; 4], maps: &[f32], map_hw: [usize; 2], cols: usize, row_labels: &[String], column_labels: &[String], alpha: f32) -> crate::Result<Figure> {
    check_images(title, images, shape)?;
    if !column_labels.is_empty() && column_labels.len() != cols.clamp(1, shape[0].max(1)) {
        return Err(crate::Error::invalid(format!("{title}: column labels"), column_labels.len(), format!("one per column ({cols})")));
    }
    let [n, _, h, w] = shape;
    if maps.len() != n * map_hw[0] * map_hw[1] || map_hw.contains(&0) {
        return Err(crate::Error::Shape { what: format!("{title}: maps"), expected: format!("{} values for [{n}, {}, {}]", n * map_hw[0] * map_hw[1], map_hw[0], map_hw[1]), got: format!("{} values", maps.len()) });
    }
    let base = to_rgb(images, shape, Normalise::PerImage);
    let [mh, mw] = map_hw;
    let mut out = base.clone();
    for i in 0..n {
        let m = &maps[i * mh * mw..(i + 1) * mh * mw];
        let (lo, hi) = min_max(m);
        for y in 0..h {
            for x in 0..w {
                let v = (m[(y * mh / h) * mw + x * mw / w] - lo) / (hi - lo).max(1e-12);
                let heat = colormap(v);
                let p = (i * h * w + y * w + x) * 3;
                // grey base so the colours read clearly
                let grey = (base[p] as f32 * 0.3 + base[p + 1] as f32 * 0.59 + base[p + 2] as f32 * 0.11) as u8;
                for c in 0..3 {
                    out[p + c] = (grey as f32 * (1.0 - alpha) + heat[c] as f32 * alpha) as u8;
                }
            }
        }
    }
    Ok(grid_svg_grouped(title, &out, [n, h, w], cols, row_labels, column_labels, Some(HEAT_SCALE)))
}

/// What the colour scale under a heat-map grid says.
const HEAT_SCALE: &str = "each map scaled to its own range";

fn min_max(v: &[f32]) -> (f32, f32) {
    v.iter().filter(|x| x.is_finite()).fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)))
}

/// A perceptual-ish ramp (dark blue → cyan → yellow → red) for v in [0, 1].
pub fn colormap(v: f32) -> [u8; 3] {
    const STOPS: [[f32; 3]; 5] = [[20., 20., 120.], [30., 140., 220.], [90., 210., 120.], [250., 220., 40.], [220., 40., 30.]];
    let v = v.clamp(0.0, 1.0) * (STOPS.len() - 1) as f32;
    let i = (v.floor() as usize).min(STOPS.len() - 2);
    let t = v - i as f32;
    let mut out = [0u8; 3];
    for c in 0..3 {
        out[c] = (STOPS[i][c] * (1.0 - t) + STOPS[i + 1][c] * t) as u8;
    }
    out
}

/// `[n, c, h, w]` floats → `[n, h, w, 3]` bytes.
pub(crate) fn to_rgb(images: &[f32], [n, c, h, w]: [usize; 4], norm: Normalise) -> Vec<u8> {
    let per = c * h * w;
    let grid_range = min_max(&images[..(n * per).min(images.len())]);
    let mut out = vec![0u8; n * h * w * 3];
    for i in 0..n {
        let img = &images[i * per..(i + 1) * per];
        let (lo, hi) = match norm {
            Normalise::PerImage => min_max(img),
            Normalise::PerGrid => grid_range,
            Normalise::Fixed(a, b) => (a, b),
        };
        let scale = 255.0 / (hi - lo).max(1e-12);
        for y in 0..h {
            for x in 0..w {
                for k in 0..3 {
                    let ch = if c == 1 { 0 } else { k.min(c - 1) };
                    let v = (img[ch * h * w + y * w + x] - lo) * scale;
                    out[((i * h + y) * w + x) * 3 + k] = v.clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
    out
}

/// [`image_grid`] with the columns in equal groups, each headed by one of `column_labels` and
/// set apart by a wider gap (e.g. a condensed set at iteration 0, 500 and 1000 side by side).
/// `cols` must be a multiple of the number of labels, else an [`Error::Invalid`](crate::Error::Invalid).
#[allow(clippy::too_many_arguments)]
pub fn image_grid_columns(title: &str, images: &[f32], shape: [usize; 4], cols: usize, row_labels: &[String], column_labels: &[String], norm: Normalise) -> crate::Result<Figure> {
    check_images(title, images, shape)?;
    if column_labels.is_empty() || !cols.is_multiple_of(column_labels.len()) {
        return Err(crate::Error::invalid(format!("{title}: column labels"), column_labels.len(), format!("must divide the {cols} columns into equal groups")));
    }
    Ok(image_grid_columns_unchecked(title, images, shape, cols, row_labels, column_labels, norm))
}

/// [`image_grid_columns`] for callers that built `images` to `shape` themselves.
pub(crate) fn image_grid_columns_unchecked(title: &str, images: &[f32], shape: [usize; 4], cols: usize, row_labels: &[String], column_labels: &[String], norm: Normalise) -> Figure {
    let rgb = to_rgb(images, shape, norm);
    grid_svg_grouped(title, &rgb, [shape[0], shape[2], shape[3]], cols, row_labels, column_labels, None)
}

fn grid_svg(title: &str, rgb: &[u8], dims: [usize; 3], cols: usize, row_labels: &[String]) -> Figure {
    grid_svg_grouped(title, rgb, dims, cols, row_labels, &[], None)
}

/// Height of the colour scale under a heat-map grid.
const SCALE_H: usize = 40;

fn grid_svg_grouped(title: &str, rgb: &[u8], [n, h, w]: [usize; 3], cols: usize, row_labels: &[String], column_labels: &[String], scale: Option<&str>) -> Figure {
    let cols = cols.clamp(1, n.max(1));
    let rows = n.div_ceil(cols).max(1);
    let groups = column_labels.len().max(1);
    let per_group = cols.div_ceil(groups);
    let group_gap = if column_labels.is_empty() { 0 } else { (w / 2).max(4) };
    let x_of = |c: usize| c * (w + GAP) + (c / per_group) * group_gap;
    let (gw, gh) = (x_of(cols - 1) + w, rows * (h + GAP) - GAP);
    let mut raster = vec![255u8; gw * gh * 3];
    for i in 0..n {
        let (r, c) = (i / cols, i % cols);
        for y in 0..h {
            let src = &rgb[((i * h + y) * w) * 3..((i * h + y) * w + w) * 3];
            let dst = ((r * (h + GAP) + y) * gw + x_of(c)) * 3;
            raster[dst..dst + w * 3].copy_from_slice(src);
        }
    }
    let png = encode_png(&raster, gw, gh);
    // show small images at a readable size: ~96 px tall in short grids, ~48 px in large ones
    let target = if n <= 16 { 96.0 } else { 48.0 };
    let zoom = (target / h as f64).clamp(1.0, 4.0);
    let (dw, dh) = (gw as f64 * zoom, gh as f64 * zoom);
    let label_w = if row_labels.is_empty() { 0 } else { LABEL_W };
    let head_h = if column_labels.is_empty() { 0 } else { 20 };
    let scale_h = if scale.is_some() { SCALE_H } else { 0 };
    let sw = (dw as usize + label_w + 20).max(title.chars().count() * 9 + 20).max(if scale.is_some() { 340 } else { 0 });
    let sh = dh as usize + TITLE_H + head_h + 10 + scale_h;
    let x0 = label_w as f64 + (sw as f64 - label_w as f64 - dw) / 2.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{sw}\" height=\"{sh}\" viewBox=\"0 0 {sw} {sh}\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{}\" y=\"20\" font-family=\"sans-serif\" font-size=\"16\" text-anchor=\"middle\">{}</text>",
        sw / 2,
        escape(title)
    );
    for (g, label) in column_labels.iter().enumerate() {
        let (a, b) = (x_of(g * per_group), x_of(((g + 1) * per_group).min(cols) - 1) + w);
        let x = x0 + (a + b) as f64 / 2.0 * zoom;
        svg += &format!("<text x=\"{x:.0}\" y=\"{}\" font-family=\"sans-serif\" font-size=\"13\" text-anchor=\"middle\">{}</text>", TITLE_H + 12, escape(label));
    }
    let top = TITLE_H + head_h;
    for (r, label) in row_labels.iter().enumerate().take(rows) {
        let y = top as f64 + (r as f64 * (h + GAP) as f64 + h as f64 / 2.0) * zoom + 4.0;
        svg += &format!("<text x=\"{:.0}\" y=\"{y:.1}\" font-family=\"sans-serif\" font-size=\"12\" text-anchor=\"end\">{}</text>", x0 - 6.0, escape(label));
    }
    svg += &format!(
        "<image x=\"{x0:.0}\" y=\"{top}\" width=\"{dw:.0}\" height=\"{dh:.0}\" style=\"image-rendering:pixelated\" preserveAspectRatio=\"none\" href=\"data:image/png;base64,{}\"/></svg>",
        base64(&png)
    );
    if let Some(caption) = scale {
        svg = svg.trim_end_matches("</svg>").to_string() + &colour_scale(sw as f64 / 2.0, (top + dh as usize + 12) as f64, caption) + "</svg>";
    }
    Figure { svg, title: title.into(), raster: true }
}

/// A horizontal bar of [`colormap`] from "low" to "high", centred on `cx`, with `caption` beside it.
fn colour_scale(cx: f64, y: f64, caption: &str) -> String {
    let (w, x0) = (120.0, cx - 160.0);
    let stops: String = (0..=8)
        .map(|k| {
            let [r, g, b] = colormap(k as f32 / 8.0);
            format!("<stop offset=\"{}\" stop-color=\"rgb({r},{g},{b})\"/>", k as f32 / 8.0)
        })
        .collect();
    format!(
        "<defs><linearGradient id=\"heat-scale\">{stops}</linearGradient></defs>\
         <text x=\"{:.0}\" y=\"{:.0}\" font-family=\"sans-serif\" font-size=\"12\" text-anchor=\"end\">low</text>\
         <rect x=\"{x0:.0}\" y=\"{y:.0}\" width=\"{w}\" height=\"12\" fill=\"url(#heat-scale)\" stroke=\"#888\"/>\
         <text x=\"{:.0}\" y=\"{:.0}\" font-family=\"sans-serif\" font-size=\"12\">high</text>\
         <text x=\"{:.0}\" y=\"{:.0}\" font-family=\"sans-serif\" font-size=\"12\">({})</text>",
        x0 - 4.0,
        y + 10.0,
        x0 + w + 4.0,
        y + 10.0,
        x0 + w + 38.0,
        y + 10.0,
        escape(caption)
    )
}

use crate::display::escape;

fn encode_png(rgb: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut out = Vec::new();
    image::ImageEncoder::write_image(image::codecs::png::PngEncoder::new(&mut out), rgb, w as u32, h as u32, image::ExtendedColorType::Rgb8)
        .expect("in-memory PNG encoding of a valid RGB buffer");
    out
}

/// Standard base64 (RFC 4648) with padding (the `base64` crate's standard engine).
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (raw, enc) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
    }

    #[test]
    fn grid_embeds_a_png_and_labels() {
        let imgs: Vec<f32> = (0..4 * 3 * 8 * 8).map(|i| (i % 17) as f32).collect();
        let f = image_grid("demo <grid>", &imgs, [4, 3, 8, 8], 2, &["a".into(), "b".into()], Normalise::PerImage).unwrap();
        assert!(f.svg.contains("data:image/png;base64,iVBORw0KGgo"), "PNG signature");
        assert!(f.svg.contains("demo &lt;grid&gt;") && f.svg.contains(">b</text>"));
        let maps = vec![0.5f32; 4 * 2 * 2];
        let h = heatmap_grid("cam", &imgs, [4, 3, 8, 8], &maps, [2, 2], 4, &[], 0.5).unwrap();
        // wrong lengths and channel counts are errors that name the array, not panics
        assert!(matches!(image_grid("g", &imgs[1..], [4, 3, 8, 8], 2, &[], Normalise::PerImage), Err(crate::Error::Shape { .. })));
        assert!(matches!(image_grid("g", &imgs, [4, 2, 8, 12], 2, &[], Normalise::PerImage), Err(crate::Error::Shape { .. })));
        assert!(matches!(heatmap_grid("cam", &imgs, [4, 3, 8, 8], &maps[1..], [2, 2], 4, &[], 0.5), Err(crate::Error::Shape { .. })));
        assert!(h.svg.contains("base64"));
        assert!(h.svg.contains(">low</text>") && h.svg.contains(">high</text>") && h.svg.contains("own range"), "a heat map says what its colours mean");
        let hc = heatmap_grid_columns("cam", &imgs, [4, 3, 8, 8], &maps, [2, 2], 4, &[], &["cat".into(), "dog".into(), "cat".into(), "ship".into()], 0.5).unwrap();
        assert!(hc.svg.contains(">ship</text>"), "a header per column");
        assert!(heatmap_grid_columns("cam", &imgs, [4, 3, 8, 8], &maps, [2, 2], 4, &[], &["cat".into()], 0.5).is_err());
        // column groups: a header over each, and a group count that does not divide is an error
        let g = image_grid_columns("evo", &imgs, [4, 3, 8, 8], 4, &["a".into(), "b".into()], &["it 0".into(), "it 9".into()], Normalise::PerImage).unwrap();
        assert!(g.svg.contains(">it 0</text>") && g.svg.contains(">it 9</text>"));
        assert!(matches!(image_grid_columns("evo", &imgs, [4, 3, 8, 8], 4, &[], &["a".into(), "b".into(), "c".into()], Normalise::PerImage), Err(crate::Error::Invalid { .. })));
    }

    #[test]
    fn colormap_ends() {
        assert_eq!(colormap(0.0), [20, 20, 120]);
        assert_eq!(colormap(1.0), [220, 40, 30]);
    }
}
