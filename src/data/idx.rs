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

/// Reads a whole file, gunzipping when it ends in `.gz`. A gzipped IDX file is decompressed no
/// further than its header promises (header + the product of its dims, + 1 byte to detect
/// more), so a small hostile file cannot expand without bound.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(Error::io(path))?;
    if path.extension().is_none_or(|e| e != "gz") {
        return Ok(raw);
    }
    let bad = |e: std::io::Error| Error::format(path, format!("not a valid gzip stream ({e})"));
    let mut stream = flate2::read::GzDecoder::new(&raw[..]);
    let mut out = vec![0u8; 4];
    let got = read_up_to(&mut stream, &mut out).map_err(bad)?;
    if got < 4 {
        out.truncate(got);
        return Ok(out); // `parse` names the truncation
    }
    let rank = out[3] as usize;
    out.resize(4 + 4 * rank, 0);
    let got = 4 + read_up_to(&mut stream, &mut out[4..]).map_err(bad)?;
    if got < out.len() {
        out.truncate(got);
        return Ok(out);
    }
    let count = body_len(path, &header_dims(&out, rank))?;
    stream.take(count as u64 + 1).read_to_end(&mut out).map_err(bad)?;
    if out.len() > 4 + 4 * rank + count {
        return Err(Error::format(path, format!("the gzip stream holds more than the {count} data bytes its header promises")));
    }
    Ok(out)
}

/// Reads into `buf` until it is full or the stream ends; the number of bytes read.
fn read_up_to(stream: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..])? {
            0 => break,
            k => filled += k,
        }
    }
    Ok(filled)
}

/// The big-endian u32 dims of a header with `rank` dims (`bytes` holds at least the header).
fn header_dims(bytes: &[u8], rank: usize) -> Vec<usize> {
    (0..rank).map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("four bytes")) as usize).collect()
}

/// The product of `dims` (the data bytes they promise); one that overflows is an error.
fn body_len(path: &Path, dims: &[usize]) -> Result<usize> {
    dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| Error::format(path, format!("header dims {dims:?} overflow: not an IDX file")))
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
    let dims = header_dims(bytes, rank);
    let count = body_len(path, &dims)?;
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
