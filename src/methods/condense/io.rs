//! Saving and loading condensed sets: `condensed.json` (settings, labels, record), `images.npy`
//! (normalised pixels, NumPy's format so Python reads them with `np.load`), `snapshots.npy`
//! (images at the recorded iterations) and `grid.png` (one row per class). Every file is
//! written atomically.
use super::Condensed;
use crate::error::{Error, Result};
use crate::train::record::write_atomic;
use std::path::Path;

impl Condensed {
    /// Writes the set into `dir` (created if missing).
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        write_atomic(&dir.join("images.npy"), &npy_f32(&self.images, &self.shape))?;
        if !self.record.snapshots.is_empty() {
            let k = self.record.snapshots.len();
            let flat: Vec<f32> = self.record.snapshots.concat();
            let [n, c, h, w] = self.shape;
            write_atomic(&dir.join("snapshots.npy"), &npy_f32(&flat, &[k, n, c, h, w]))?;
        }
        write_atomic(&dir.join("grid.png"), &self.grid_png()?)?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::format(dir.join("condensed.json"), e.to_string()))?;
        write_atomic(&dir.join("condensed.json"), &json)
    }

    /// Reads what [`save`](Condensed::save) wrote; a bad or inconsistent file is an error that
    /// names it.
    pub fn load(dir: impl AsRef<Path>) -> Result<Condensed> {
        let dir = dir.as_ref();
        let meta_path = dir.join("condensed.json");
        let bytes = std::fs::read(&meta_path).map_err(Error::io(&meta_path))?;
        let mut set: Condensed = serde_json::from_slice(&bytes).map_err(|e| Error::format(&meta_path, format!("not a condensed set: {e}")))?;
        let images_path = dir.join("images.npy");
        let (shape, images) = read_npy_f32(&images_path)?;
        if shape != set.shape {
            return Err(Error::format(&images_path, format!("shape {shape:?} but condensed.json says {:?}", set.shape)));
        }
        if set.labels.len() != set.shape[0] {
            return Err(Error::format(&meta_path, format!("{} labels for {} images", set.labels.len(), set.shape[0])));
        }
        set.images = images;
        let snap_path = dir.join("snapshots.npy");
        if snap_path.exists() {
            let (shape, flat) = read_npy_f32(&snap_path)?;
            let per: usize = set.shape.iter().product();
            if shape.len() != 5 || shape[0] != set.record.snapshot_iterations.len() || shape[1..].iter().product::<usize>() != per {
                return Err(Error::format(&snap_path, format!("shape {shape:?} does not match {} snapshots of {:?}", set.record.snapshot_iterations.len(), set.shape)));
            }
            set.record.snapshots = flat.chunks(per).map(<[f32]>::to_vec).collect();
        }
        Ok(set)
    }

    /// The images, denormalised, as one PNG: a row per class, `ipc` columns.
    pub fn grid_png(&self) -> Result<Vec<u8>> {
        let [n, _, h, w] = self.shape;
        let ipc = self.config.ipc.max(1);
        let rgb = crate::plot::images::to_rgb(&self.denormalised(&self.images), self.shape, crate::plot::Normalise::Fixed(0.0, 1.0));
        let rows = n.div_ceil(ipc);
        let (gw, gh) = (ipc * (w + 1), rows * (h + 1));
        let mut img = image::RgbImage::from_pixel(gw as u32, gh as u32, image::Rgb([255, 255, 255]));
        for i in 0..n {
            let (r, col) = (i / ipc, i % ipc);
            for y in 0..h {
                for x in 0..w {
                    let p = ((i * h + y) * w + x) * 3;
                    img.put_pixel((col * (w + 1) + x) as u32, (r * (h + 1) + y) as u32, image::Rgb([rgb[p], rgb[p + 1], rgb[p + 2]]));
                }
            }
        }
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).map_err(|e| Error::invalid("grid.png", e, "could not encode"))?;
        Ok(out.into_inner())
    }
}

/// A little-endian f32 array in NumPy's `.npy` format (version 1.0).
pub fn npy_f32(data: &[f32], shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let tuple = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    // magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Reads a C-order little-endian f32 `.npy` file (versions 1–3): its shape and values.
pub fn read_npy_f32(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    let bad = |why: &str| Error::format(path, why.to_string());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file (magic bytes missing)"));
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(Error::format(path, format!("unsupported .npy version {v}"))),
    };
    let header = bytes.get(start..start + len).ok_or_else(|| bad("header runs past the end of the file"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text"))?;
    if !header.contains("'descr': '<f4'") {
        return Err(Error::format(path, format!("expected little-endian f32 ('<f4'), header is {header}")));
    }
    if header.contains("'fortran_order': True") {
        return Err(bad("Fortran-order arrays are not supported"));
    }
    let shape_text = header.split("'shape':").nth(1).and_then(|s| s.split(['(', ')']).nth(1)).ok_or_else(|| bad("no shape in the header"))?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| Error::format(path, format!("bad dimension `{s}` in the shape"))))
        .collect::<Result<Vec<usize>>>()?;
    let body = &bytes[start + len..];
    let count: usize = shape.iter().product();
    if body.len() != count * 4 {
        return Err(Error::format(path, format!("shape {shape:?} needs {} bytes of data, the file has {}", count * 4, body.len())));
    }
    Ok((shape, body.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()))
}
