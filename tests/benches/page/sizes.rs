//! Printing the page's bytes on the wire.

pub use webkad_tests::page_bytes::{FileSize, page_files};

/// Kilobytes (10^3 bytes, as the web counts).
pub fn kb(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}

/// Prints a table of `files` and their total; answers the totals (raw, gzip, brotli) of
/// what the page fetches before `joined`.
pub fn print_table(title: &str, files: &[FileSize]) -> (usize, usize, usize) {
    println!("{title}");
    println!(
        "  {:<46} {:>11} {:>11} {:>11}",
        "file", "raw", "gzip", "brotli"
    );
    for f in files {
        println!(
            "  {:<46} {:>11} {:>11} {:>11}",
            f.name,
            kb(f.raw),
            kb(f.gzip),
            kb(f.brotli)
        );
    }
    let (raw, gz, br) = webkad_tests::page_bytes::totals(files);
    println!(
        "  {:<46} {:>11} {:>11} {:>11}",
        "total",
        kb(raw),
        kb(gz),
        kb(br)
    );
    let before: Vec<FileSize> = files
        .iter()
        .filter(|f| !webkad_tests::page_bytes::after_joined(&f.name))
        .cloned()
        .collect();
    if before.len() == files.len() {
        return (raw, gz, br);
    }
    let (raw, gz, br) = webkad_tests::page_bytes::totals(&before);
    println!(
        "  {:<46} {:>11} {:>11} {:>11}",
        "before joined (all but the wasm's second part)",
        kb(raw),
        kb(gz),
        kb(br)
    );
    (raw, gz, br)
}
