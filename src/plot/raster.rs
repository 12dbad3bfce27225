//! SVG → PNG in-process (resvg), so a figure also renders where inline SVG is dropped: a notebook
//! opened untrusted in JupyterLab, GitHub's and nbviewer's notebook pages. Text is drawn with an
//! embedded DejaVu Sans subset (`font/`, Bitstream Vera licence), so the raster looks the same on a
//! machine with no fonts installed. The PNG is indexed-colour where the figure has few colours,
//! which keeps a 2× raster of a line chart near the size of its SVG.
use std::sync::{Arc, OnceLock};

/// The embedded font: DejaVu Sans, subset to Latin, Greek, punctuation, arrows, maths and ✓ ✗.
static FONT: &[u8] = include_bytes!("font/DejaVuSans-subset.ttf");
/// The family every `sans-serif` (and any unknown family) in a figure is drawn with.
pub const FONT_FAMILY: &str = "DejaVu Sans";
/// Pixels of raster per SVG pixel: sharp on high-density screens and when zoomed.
pub const SCALE: f32 = 2.0;
/// Most pixels in one chart's PNG (a panel of many figures is rasterised at less than
/// [`SCALE`], never below 1): keeps a notebook's outputs small.
pub const MAX_PIXELS: f64 = 3.0e6;

fn options() -> &'static resvg::usvg::Options<'static> {
    static OPTIONS: OnceLock<resvg::usvg::Options<'static>> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        let mut db = resvg::usvg::fontdb::Database::new();
        db.load_font_data(FONT.to_vec());
        db.set_sans_serif_family(FONT_FAMILY);
        db.set_serif_family(FONT_FAMILY);
        db.set_monospace_family(FONT_FAMILY);
        resvg::usvg::Options { font_family: FONT_FAMILY.into(), fontdb: Arc::new(db), ..Default::default() }
    })
}

/// The figure `svg` rasterised at `scale` pixels per SVG pixel on white, as PNG bytes. An SVG that
/// does not parse or has no area is an [`Error::Invalid`](crate::Error::Invalid) naming `what`.
pub fn png(what: &str, svg: &str, scale: f32) -> crate::Result<Vec<u8>> {
    let pixels = rasterise(what, svg, scale)?;
    Ok(encode(&pixels))
}

/// RGB pixels of a raster: width, height, 3 bytes per pixel.
pub(crate) struct Rgb {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

pub(crate) fn rasterise(what: &str, svg: &str, scale: f32) -> crate::Result<Rgb> {
    use resvg::tiny_skia;
    let bad = |why: String| crate::Error::invalid(format!("{what}: SVG"), "figure", why);
    let tree = resvg::usvg::Tree::from_str(svg, options()).map_err(|e| bad(e.to_string()))?;
    let size = tree.size().to_int_size().scale_by(scale).ok_or_else(|| bad(format!("cannot scale by {scale}")))?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or_else(|| bad(format!("empty size {}×{}", size.width(), size.height())))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::from_scale(scale, scale), &mut pixmap.as_mut());
    // opaque on white: premultiplied RGBA is plain RGB
    let data = pixmap.data().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    Ok(Rgb { width: size.width(), height: size.height(), data })
}

/// PNG of `pixels`: indexed (≤ 256 colours, each pixel mapped to the nearest of the most frequent
/// colours — anti-aliased edges move by a shade at most) when the figure is mostly flat colour,
/// true colour otherwise (photographs, heat maps).
pub(crate) fn encode(pixels: &Rgb) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, pixels.width, pixels.height);
        enc.set_compression(png::Compression::High);
        let (palette, indices) = match palette(&pixels.data) {
            Some(p) => p,
            None => {
                enc.set_color(png::ColorType::Rgb);
                enc.set_depth(png::BitDepth::Eight);
                let mut w = enc.write_header().expect("PNG header into memory");
                w.write_image_data(&pixels.data).expect("PNG data into memory");
                drop(w);
                return out;
            }
        };
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(palette);
        let mut w = enc.write_header().expect("PNG header into memory");
        w.write_image_data(&indices).expect("PNG data into memory");
    }
    out
}

/// The 256 most frequent colours and every pixel's nearest among them, when those colours cover
/// ≥ 97 % of the pixels (a chart: flat fills, lines, anti-aliased edges); `None` otherwise.
fn palette(rgb: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    use std::collections::HashMap;
    let key = |p: &[u8]| (p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32;
    let mut counts: HashMap<u32, usize> = HashMap::new();
    for p in rgb.chunks_exact(3) {
        *counts.entry(key(p)).or_default() += 1;
    }
    let mut by_count: Vec<(u32, usize)> = counts.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let kept = &by_count[..by_count.len().min(256)];
    let covered: usize = kept.iter().map(|c| c.1).sum();
    if (covered as f64) < 0.97 * (rgb.len() / 3) as f64 {
        return None;
    }
    let colours: Vec<[i32; 3]> = kept.iter().map(|&(c, _)| [(c >> 16) as i32, (c >> 8 & 255) as i32, (c & 255) as i32]).collect();
    let mut index_of: HashMap<u32, u8> = kept.iter().enumerate().map(|(i, &(c, _))| (c, i as u8)).collect();
    let mut indices = Vec::with_capacity(rgb.len() / 3);
    for p in rgb.chunks_exact(3) {
        let k = key(p);
        let i = *index_of.entry(k).or_insert_with(|| {
            let d = |c: &[i32; 3]| (0..3).map(|j| (c[j] - p[j] as i32).pow(2)).sum::<i32>();
            colours.iter().enumerate().min_by_key(|(_, c)| d(c)).map_or(0, |(i, _)| i as u8)
        });
        indices.push(i);
    }
    Some((colours.iter().flat_map(|c| c.iter().map(|&v| v as u8)).collect(), indices))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"120\" height=\"40\"><rect width=\"120\" height=\"40\" fill=\"white\"/>\
        <text x=\"4\" y=\"28\" font-family=\"sans-serif\" font-size=\"24\" fill=\"black\">Δ ± 1.0</text></svg>";

    #[test]
    fn text_is_drawn_with_the_embedded_font_at_twice_the_size() {
        let px = rasterise("t", SVG, SCALE).unwrap();
        assert_eq!((px.width, px.height), (240, 80));
        let dark = px.data.chunks_exact(3).filter(|p| p.iter().all(|&v| v < 100)).count();
        // the glyphs cover a few hundred pixels; no font would leave the canvas white
        assert!(dark > 300, "{dark} dark pixels: the text was not drawn");
        let png = encode(&px);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoded = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(decoded.dimensions(), (240, 80));
        // indexed encoding keeps every pure colour exact
        assert_eq!(decoded.get_pixel(0, 0).0, [255, 255, 255]);
    }

    #[test]
    fn bad_svg_is_an_error_naming_the_figure() {
        let e = png("my figure", "<svg", 2.0).unwrap_err().to_string();
        assert!(e.contains("my figure"), "{e}");
    }

    #[test]
    fn photographs_keep_true_colour() {
        let mut x = 0x2545_f491_u32;
        let data: Vec<u8> = (0..64 * 64 * 3).map(|_| { x ^= x << 13; x ^= x >> 17; x ^= x << 5; (x >> 24) as u8 }).collect();
        assert!(palette(&data).is_none());
        let png = encode(&Rgb { width: 64, height: 64, data: data.clone() });
        assert_eq!(image::load_from_memory(&png).unwrap().to_rgb8().into_raw(), data, "lossless");
    }
}
