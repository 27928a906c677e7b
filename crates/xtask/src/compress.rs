//! Precompressing the built page: every text or wasm file in `dist/` gets a brotli (`.br`,
//! quality 11, 16 MiB window) and a gzip (`.gz`, zopfli) sibling at build time, so
//! `webkad serve` sends the smallest encoding a browser accepts without compressing per
//! request.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The file kinds worth compressing (images and fonts are compressed already).
const COMPRESSIBLE: &[&str] = &["html", "js", "mjs", "css", "wasm", "json", "svg", "txt"];

/// Brotli's largest window every browser decodes (2^24 bytes): the wasm is over 2^22.
const BROTLI_WINDOW: u32 = 24;

/// Writes `<file>.br` and `<file>.gz` beside every compressible file below `dir` and
/// removes stale ones whose source is gone. Answers the files it compressed.
pub fn precompress(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut done = Vec::new();
    for path in files_below(dir)? {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext == "br" || ext == "gz" {
            if !path.with_extension("").is_file() {
                fs::remove_file(&path)
                    .with_context(|| format!("could not remove {}", path.display()))?;
            }
            continue;
        }
        if !COMPRESSIBLE.contains(&ext) {
            continue;
        }
        let bytes =
            fs::read(&path).with_context(|| format!("could not read {}", path.display()))?;
        write_beside(&path, "br", &brotli(&bytes)?)?;
        write_beside(&path, "gz", &gzip(&bytes)?)?;
        done.push(path);
    }
    Ok(done)
}

fn files_below(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries =
            fs::read_dir(&dir).with_context(|| format!("could not list {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn write_beside(path: &Path, ext: &str, bytes: &[u8]) -> Result<()> {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    fs::write(&name, bytes)
        .with_context(|| format!("could not write {}", Path::new(&name).display()))
}

/// Brotli at its best quality with the widest window browsers accept.
pub fn brotli(bytes: &[u8]) -> Result<Vec<u8>> {
    let params = ::brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: BROTLI_WINDOW as i32,
        size_hint: bytes.len(),
        ..Default::default()
    };
    let mut out = Vec::new();
    ::brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).context("brotli failed")?;
    Ok(out)
}

/// Gzip by zopfli: the format every browser reads, about 5 % smaller than `gzip -9`.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let options = zopfli::Options {
        iteration_count: std::num::NonZeroU64::new(5).unwrap_or(std::num::NonZeroU64::MIN),
        ..Default::default()
    };
    let mut out = Vec::new();
    // One write of the whole file: zopfli sees it in large blocks, as a buffer would give it.
    let mut encoder = zopfli::GzipEncoder::new(options, zopfli::BlockType::Dynamic, &mut out)
        .context("gzip failed")?;
    encoder.write_all(bytes).context("gzip failed")?;
    encoder.finish().context("gzip failed")?;
    Ok(out)
}
