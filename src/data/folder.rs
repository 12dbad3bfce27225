//! ImageFolder: `root/<split>/<class>/*.{png,jpg,jpeg}` (CUB-200, Stanford Dogs, NABirds after the
//! usual split into `train/` and `test/`). Images are converted to RGB and resized to `size×size`
//! (bilinear), classes are the sorted sub-folder names of the train split.
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Class names (sorted sub-folders of `dir`).
pub fn class_names(dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(Error::io(dir))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Error::format(dir, "no class sub-folders (expected <split>/<class>/<image>.png|jpg)"));
    }
    Ok(names)
}

fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(Error::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Decodes one image file into `size×size` RGB, channel-first.
pub fn load_image(path: &Path, size: usize) -> Result<Vec<u8>> {
    let img = image::open(path).map_err(|e| Error::format(path, format!("cannot decode image ({e})")))?;
    let rgb = image::imageops::resize(&img.to_rgb8(), size as u32, size as u32, image::imageops::FilterType::Triangle);
    let mut chw = vec![0u8; 3 * size * size];
    for (x, y, p) in rgb.enumerate_pixels() {
        for c in 0..3 {
            chw[c * size * size + y as usize * size + x as usize] = p[c];
        }
    }
    Ok(chw)
}

/// Reads one split folder with the given classes; a class folder missing here is an error.
/// Labels are `u16` (NABirds has 555 classes; more than 65,536 is an error).
pub fn read_split(dir: &Path, classes: &[String], size: usize) -> Result<(Vec<u8>, Vec<u16>)> {
    if classes.len() > usize::from(u16::MAX) + 1 {
        return Err(Error::format(dir, format!("{} class folders; at most 65536 are supported", classes.len())));
    }
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let class_dir = dir.join(class);
        let files = image_files(&class_dir)?;
        if files.is_empty() {
            return Err(Error::format(&class_dir, "class folder has no .png/.jpg images"));
        }
        for f in files {
            images.extend(load_image(&f, size)?);
            labels.push(label as u16);
        }
    }
    Ok((images, labels))
}
