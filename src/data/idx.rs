//! IDX reader (MNIST, Fashion-MNIST): `*-idx3-ubyte` images and `*-idx1-ubyte` labels, raw or
//! gzipped. Format: 2 zero bytes, a type byte (0x08 = u8), a rank byte, big-endian u32 dims, data.
use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A decoded IDX u8 array.
#[derive(Debug)]
pub struct IdxArray {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// Row-major data.
    pub data: Vec<u8>,
}

/// Finds `dir/name` or `dir/name.gz`.
pub fn locate(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(format!("{name}.gz"))].into_iter().find(|p| p.is_file())
}

/// Reads a whole file, gunzipping when it ends in `.gz`.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(Error::io(path))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::format(path, format!("not a valid gzip stream ({e})")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses an IDX u8 array of the expected rank from `bytes` (read from `path`).
pub fn parse(path: &Path, bytes: &[u8], rank: usize) -> Result<IdxArray> {
    if bytes.len() < 4 {
        return Err(Error::format(path, format!("truncated: {} bytes, too short for an IDX header", bytes.len())));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let expected = 0x0800 | rank as u32;
    if magic != expected {
        return Err(Error::format(path, format!("wrong IDX magic 0x{magic:08x}, expected 0x{expected:08x} (u8, rank {rank})")));
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(Error::format(path, format!("truncated header: {} bytes, need {header}", bytes.len())));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let count: usize = dims.iter().product();
    let body = bytes.len() - header;
    if body != count {
        return Err(Error::format(
            path,
            format!("size mismatch: header dims {dims:?} need {count} data bytes, file has {body} (truncated or corrupt)"),
        ));
    }
    Ok(IdxArray { dims, data: bytes[header..].to_vec() })
}

/// Reads images (rank 3: N×H×W) and labels (rank 1) and checks that their counts agree.
pub fn read_pair(images: &Path, labels: &Path) -> Result<(IdxArray, Vec<u8>)> {
    let img = parse(images, &read_maybe_gz(images)?, 3)?;
    let lab = parse(labels, &read_maybe_gz(labels)?, 1)?;
    if img.dims[0] != lab.dims[0] {
        return Err(Error::format(labels, format!("{} labels for {} images in {}", lab.dims[0], img.dims[0], images.display())));
    }
    Ok((img, lab.data))
}

/// Writes an IDX u8 array (used by tests and by tools that export condensed sets).
pub fn encode(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&(*d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}
