//! The page's scripts and style sheet, minified: `cargo xtask build-web` runs the pinned
//! esbuild over every `.js` and `.css` file trunk left in `dist/` (after the wasm split,
//! which patches wasm-bindgen's glue by its text, and before precompression).
//!
//! Before `joined` this took app.js 12.5 → 8.0 KB brotli and wasm-bindgen's glue 10.3 →
//! 6.1 KB (ARCHITECTURE.md keeps the figures). esbuild rather than trunk's own `--minify`:
//! trunk minifies with minify-js, which would also rewrite the glue before the split
//! patches it, and esbuild already bundles the js-libp2p reference page.
//!
//! Hashed names stay as they are: minifying is deterministic, so a name still stands for
//! one content. Subresource-integrity hashes in index.html are recomputed. A file trunk
//! copied without a hash (`web/metrics.js`, which the page imports after `joined` by the
//! URL in index.html's `<meta name="webkad:metrics">`) gets one, so it can be cached as
//! immutable like the rest.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine;
use sha2::{Digest, Sha256, Sha384};

use crate::cmd::{display, program};

/// The scripts the page imports later by a URL in index.html, copied by trunk unhashed.
const UNHASHED: &[&str] = &["metrics.js"];

/// What [`minify_page`] did: (file, bytes before, bytes after).
pub type Report = Vec<(String, usize, usize)>;

/// Minifies every script and style sheet in `dist` in place with `esbuild`, gives the
/// unhashed ones a content hash, and brings index.html's names and integrity hashes up
/// to date.
pub fn minify_page(dist: &Path, esbuild: &Path) -> Result<Report> {
    let index_path = dist.join("index.html");
    let mut index = fs::read_to_string(&index_path)
        .with_context(|| format!("cannot read {}", index_path.display()))?;
    let mut report = Vec::new();
    let mut names: Vec<String> = fs::read_dir(dist)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    for name in names {
        let Some(kind) = [".js", ".css"].into_iter().find(|ext| name.ends_with(ext)) else {
            continue;
        };
        let path = dist.join(&name);
        let before = fs::metadata(&path)?.len() as usize;
        let minified = esbuild_minify(esbuild, &path, kind)?;
        let mut new_name = name.clone();
        if UNHASHED.contains(&name.as_str()) {
            let stem = name.strip_suffix(kind).unwrap_or(&name);
            new_name = format!("{stem}-{}{kind}", content_hash(&minified));
            fs::remove_file(&path)?;
            index = index.replace(&format!("\"/{name}\""), &format!("\"/{new_name}\""));
        }
        fs::write(dist.join(&new_name), &minified)?;
        index = set_integrity(&index, &format!("/{new_name}"), &minified)?;
        report.push((new_name, before, minified.len()));
    }
    fs::write(&index_path, index)?;
    Ok(report)
}

/// esbuild's minified output for one file, alone (no bundling: imports stay as written).
fn esbuild_minify(esbuild: &Path, path: &Path, kind: &str) -> Result<Vec<u8>> {
    let input = path.to_str().context("the page path is not UTF-8")?;
    let mut args = vec![input, "--minify", "--log-level=warning", "--charset=utf8"];
    if kind == ".js" {
        // Every script of the page is an ES module (wasm-bindgen's `web` target too).
        args.extend(["--format=esm", "--target=es2022"]);
    }
    let mut command = program(&esbuild.to_string_lossy(), &args);
    let output = command
        .output()
        .with_context(|| format!("could not start `{}`", display(&command)))?;
    if !output.status.success() || output.stdout.is_empty() {
        bail!(
            "`{}` failed ({}): {}",
            display(&command),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}

/// 16 hex digits of the content's SHA-256, the length trunk's names carry.
fn content_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Rewrites the `integrity` of every tag in `index` whose `src` or `href` is `url`.
pub fn set_integrity(index: &str, url: &str, bytes: &[u8]) -> Result<String> {
    let digest = base64::engine::general_purpose::STANDARD.encode(Sha384::digest(bytes));
    let mut out = String::with_capacity(index.len());
    let mut rest = index;
    while let Some(at) = [format!("href=\"{url}\""), format!("src=\"{url}\"")]
        .iter()
        .filter_map(|needle| rest.find(needle.as_str()))
        .min()
    {
        let tag_start = rest[..at].rfind('<').unwrap_or(0);
        let tag_end = rest[at..].find('>').map_or(rest.len(), |e| at + e);
        let tag = &rest[tag_start..tag_end];
        let tag = match tag.find("integrity=\"sha384-") {
            Some(i) => {
                let start = i + "integrity=\"".len();
                let end = tag[start..].find('"').context("unterminated integrity")? + start;
                format!("{}sha384-{digest}{}", &tag[..start], &tag[end..])
            }
            None => tag.to_owned(),
        };
        out.push_str(&rest[..tag_start]);
        out.push_str(&tag);
        rest = &rest[tag_end..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_follows_the_url_before_or_after_it() {
        let index = r#"<script src="/a.js" integrity="sha384-old" type="module"></script>
<link integrity="sha384-old" rel="modulepreload" href="/a.js"><script src="/b.js" integrity="sha384-keep"></script>"#;
        let out = set_integrity(index, "/a.js", b"x").expect("well-formed tags");
        let digest = base64::engine::general_purpose::STANDARD.encode(Sha384::digest(b"x"));
        assert_eq!(out.matches(&format!("sha384-{digest}")).count(), 2, "{out}");
        assert!(out.contains("sha384-keep"), "{out}");
    }

    #[test]
    fn content_hashes_look_like_trunks() {
        let hash = content_hash(b"page");
        assert_eq!(hash.len(), 16);
        assert!(
            crate::cmd::workspace_root().is_dir() && hash.chars().all(|c| c.is_ascii_hexdigit())
        );
    }
}
