//! CIFAR-10 / CIFAR-100 binary format (the `*-binary.tar.gz` releases).
//! CIFAR-10: `cifar-10-batches-bin/data_batch_{1..5}.bin`, `test_batch.bin`; records of
//! 1 label byte + 3072 pixel bytes (R plane, G plane, B plane, each 32×32 row-major).
//! CIFAR-100: `cifar-100-binary/train.bin`, `test.bin`; records of coarse + fine label + 3072.
use crate::error::{Error, Result};
use std::path::Path;

const PIXELS: usize = 3 * 32 * 32;

/// Which CIFAR release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cifar {
    /// 10 classes, 1 label byte per record.
    Ten,
    /// 100 fine classes, 2 label bytes (coarse, fine) per record.
    Hundred,
}

impl Cifar {
    fn label_bytes(self) -> usize {
        match self { Cifar::Ten => 1, Cifar::Hundred => 2 }
    }
    /// Number of classes.
    pub fn classes(self) -> usize {
        match self { Cifar::Ten => 10, Cifar::Hundred => 100 }
    }
    /// Folder under the data root.
    pub fn folder(self) -> &'static str {
        match self { Cifar::Ten => "cifar-10-batches-bin", Cifar::Hundred => "cifar-100-binary" }
    }
    /// Where the binary release is published.
    pub fn url(self) -> &'static str {
        match self {
            Cifar::Ten => "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
            Cifar::Hundred => "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
        }
    }
    /// Train and test file names.
    pub fn files(self) -> (Vec<String>, Vec<String>) {
        match self {
            Cifar::Ten => ((1..=5).map(|i| format!("data_batch_{i}.bin")).collect(), vec!["test_batch.bin".into()]),
            Cifar::Hundred => (vec!["train.bin".into()], vec!["test.bin".into()]),
        }
    }
    /// Record size in bytes.
    pub fn record(self) -> usize {
        self.label_bytes() + PIXELS
    }
}

/// Parses one binary batch file into (CHW images, labels).
pub fn parse(kind: Cifar, path: &Path, bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let rec = kind.record();
    if bytes.is_empty() || !bytes.len().is_multiple_of(rec) {
        return Err(Error::format(path, format!("size {} is not a positive multiple of the {rec}-byte CIFAR record (truncated or not a {} file)", bytes.len(), kind.folder())));
    }
    let n = bytes.len() / rec;
    let mut images = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    for (i, r) in bytes.chunks_exact(rec).enumerate() {
        let label = r[kind.label_bytes() - 1];
        if label as usize >= kind.classes() {
            return Err(Error::format(path, format!("record {i}: label {label} out of range 0..{}", kind.classes())));
        }
        labels.push(label);
        images.extend_from_slice(&r[kind.label_bytes()..]);
    }
    Ok((images, labels))
}

/// Reads and concatenates several batch files.
pub fn read_files(kind: Cifar, dir: &Path, names: &[String]) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for name in names {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
        let (i, l) = parse(kind, &path, &bytes)?;
        images.extend(i);
        labels.extend(l);
    }
    Ok((images, labels))
}
