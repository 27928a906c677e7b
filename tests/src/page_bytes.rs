//! Bytes on the wire: every file of a built page, raw and as served (the `.gz` and `.br`
//! siblings `cargo xtask build-web` writes, which the node sends by content negotiation).
//! The page benchmark prints them; the page tests hold them to the byte budget.

use std::path::Path;

/// One file's sizes.
#[derive(Debug, Clone)]
pub struct FileSize {
    /// The path relative to the page dir.
    pub name: String,
    /// Bytes as built.
    pub raw: usize,
    /// Bytes of its `.gz` (raw when it has none).
    pub gzip: usize,
    /// Bytes of its `.br` (raw when it has none).
    pub brotli: usize,
}

/// Totals of a set of files: (raw, gzip, brotli).
pub fn totals(files: &[FileSize]) -> (usize, usize, usize) {
    files.iter().fold((0, 0, 0), |(r, g, b), f| {
        (r + f.raw, g + f.gzip, b + f.brotli)
    })
}

/// Whether the page fetches `name` only after `joined`: the second part of the split wasm
/// (`crates/xtask/src/page_split.rs`) and the metrics panel's script (`web/app.js`
/// `loadPanel`).
pub fn after_joined(name: &str) -> bool {
    name.ends_with("_lazy.wasm") || (name.starts_with("metrics-") && name.ends_with(".js"))
}

/// The files below `dir` (recursively; names relative to it), skipping the compressed
/// siblings themselves. A file without a sibling counts raw for that encoding.
pub fn page_files(dir: &Path) -> Vec<FileSize> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).expect("read the page dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext == "br" || ext == "gz" {
                continue;
            }
            let raw = file_len(&path).expect("a listed file");
            let sibling = |e: &str| {
                let mut name = path.as_os_str().to_owned();
                name.push(e);
                file_len(Path::new(&name)).unwrap_or(raw)
            };
            out.push(FileSize {
                name: path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned(),
                raw,
                gzip: sibling(".gz"),
                brotli: sibling(".br"),
            });
        }
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.raw));
    out
}

fn file_len(path: &Path) -> Option<usize> {
    let len = std::fs::metadata(path).ok()?.len();
    usize::try_from(len).ok()
}
