//! The page's wasm in two files: `cargo xtask build-web` splits what trunk built.
//!
//! trunk leaves `dist/webkad-browser-<hash>.js` (wasm-bindgen's glue) and `…_bg.wasm`
//! (with its function names: `-g` in index.html's wasm-opt parameters). This step
//! * splits the wasm by `web/page-profile.txt` ([`crate::wasm_split`]): `…_bg.wasm` keeps
//!   what runs up to `joined`, `…_lazy.wasm` holds the rest;
//! * gives the glue the `wk.load` import (a synchronous load, for a call into the
//!   secondary before it arrived) and `loadLazy()`, which the page calls after `joined`;
//! * names the three files by their content (the hashed assets are cached as immutable)
//!   and rewrites index.html's references and subresource-integrity hashes;
//! * has the page compute curve25519-dalek's tables instead of fetching them
//!   ([`crate::page_tables`]).
//!
//! Without a profile the wasm only loses its names. The input, names and all, stays in
//! `target/page-named.wasm` for `cargo xtask page-profile` and the benchmark.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::cmd::workspace_root;
use crate::wasm_split;

/// The function name keys that run up to `joined` (one hex key a line, `#` comments).
pub fn profile_path() -> PathBuf {
    workspace_root().join("web/page-profile.txt")
}

/// trunk's wasm before the split, names kept.
pub fn named_wasm_path() -> PathBuf {
    workspace_root().join("target/page-named.wasm")
}

/// The function behind each stub slot of the last split, for a synchronous load's report.
pub fn slots_path() -> PathBuf {
    workspace_root().join("target/page-split-slots.txt")
}

/// The glue's import object gets this namespace after wasm-bindgen's own.
const GLUE_IMPORT_ANCHOR: &str = "_bg.js\": import0,\n";

/// Reads the profile's keys; none if the file is missing.
pub fn read_profile(path: &Path) -> Result<HashSet<u64>> {
    let Ok(text) = fs::read_to_string(path) else {
        return Ok(HashSet::new());
    };
    let keys = text.lines().map(str::trim);
    keys.filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            u64::from_str_radix(l, 16).with_context(|| format!("{}: bad key {l:?}", path.display()))
        })
        .collect()
}

/// trunk's glue and wasm in `dist`: `(stem, js, wasm)`.
fn trunk_output(dist: &Path) -> Result<(String, PathBuf, PathBuf)> {
    let mut found = None;
    for entry in fs::read_dir(dist)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix("_bg.wasm") {
            if found.is_some() {
                bail!("{} holds two wasm modules", dist.display());
            }
            found = Some(stem.to_owned());
        }
    }
    let stem = found.with_context(|| format!("{} holds no *_bg.wasm", dist.display()))?;
    let js = dist.join(format!("{stem}.js"));
    let wasm = dist.join(format!("{stem}_bg.wasm"));
    Ok((stem, js, wasm))
}

/// What [`split_page`] did, for the log.
pub struct Report {
    /// Primary (loaded first) and secondary sizes, raw bytes; secondary 0 if not split.
    pub primary: usize,
    pub secondary: usize,
    /// Functions kept, moved and stubbed.
    pub counts: (usize, usize, usize),
    /// Whether the curve tables are computed in the page ([`crate::page_tables`]).
    pub tables: crate::page_tables::Outcome,
}

/// Splits the page in `dist` by the profile at `profile`.
pub fn split_page(dist: &Path, profile: &Path) -> Result<Report> {
    let (stem, js_path, wasm_path) = trunk_output(dist)?;
    let wasm = fs::read(&wasm_path)?;
    // `<workspace>/target` may not exist when CARGO_TARGET_DIR points elsewhere.
    if let Some(dir) = named_wasm_path().parent() {
        fs::create_dir_all(dir).context("cannot create <workspace>/target")?;
    }
    fs::write(named_wasm_path(), &wasm).context("cannot keep target/page-named.wasm")?;
    let keep = read_profile(profile)?;
    let mut glue = fs::read_to_string(&js_path)?;
    let (mut primary, secondary, counts) = if keep.is_empty() {
        (wasm_split::strip_names(&wasm)?, None, (0, 0, 0))
    } else {
        let split = wasm_split::split(&wasm, &keep)?;
        let counts = (split.kept, split.moved, split.stubs);
        let names: Vec<String> = (split.slot_names.iter().enumerate())
            .map(|(slot, name)| format!("{slot} {}", name.chars().take(400).collect::<String>()))
            .collect();
        fs::write(slots_path(), names.join("\n")).context("cannot write the slot names")?;
        (split.primary, Some(split.secondary), counts)
    };
    let tables = crate::page_tables::compute_in_page(&mut primary, &mut glue)
        .context("cannot move the curve tables into the page")?;
    let mut hasher = Sha256::new();
    hasher.update(&primary);
    hasher.update(glue.as_bytes());
    hasher.update(secondary.as_deref().unwrap_or_default());
    let digest = hasher.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let base = stem
        .rsplit_once('-')
        .map_or(stem.as_str(), |(base, _)| base);
    let new_stem = format!("{base}-{hex}");
    let glue = match &secondary {
        Some(_) => patch_glue(&glue, &new_stem)?,
        None => glue,
    };
    fs::remove_file(&js_path)?;
    fs::remove_file(&wasm_path)?;
    let new_js = dist.join(format!("{new_stem}.js"));
    let new_wasm = dist.join(format!("{new_stem}_bg.wasm"));
    fs::write(&new_js, &glue)?;
    fs::write(&new_wasm, &primary)?;
    if let Some(secondary) = &secondary {
        fs::write(dist.join(format!("{new_stem}_lazy.wasm")), secondary)?;
    }
    let index_path = dist.join("index.html");
    let mut index = fs::read_to_string(&index_path)?.replace(&stem, &new_stem);
    index = crate::page_minify::set_integrity(&index, &format!("/{new_stem}.js"), glue.as_bytes())?;
    index = crate::page_minify::set_integrity(&index, &format!("/{new_stem}_bg.wasm"), &primary)?;
    fs::write(&index_path, index)?;
    Ok(Report {
        primary: primary.len(),
        secondary: secondary.map_or(0, |s| s.len()),
        counts,
        tables,
    })
}

/// The loader the split needs, appended to wasm-bindgen's glue (`wasm` is its exports).
const LOADER: &str = r#"
// webkad: the wasm is split (crates/xtask/src/wasm_split.rs). This module holds what runs
// up to `joined`; the rest arrives with loadLazy(), or synchronously on a first call into it.
const __wkLazyUrl = new URL("LAZY_FILE", import.meta.url);
let __wkLazy;
function __wkInstall(module) {
    if (wasm.__wk_loaded.value) return;
    new WebAssembly.Instance(module, { primary: wasm });
    wasm.__wk_loaded.value = 1;
}
function __wkLoadSync(slot) {
    globalThis.__wkSyncLoads = (globalThis.__wkSyncLoads || 0) + 1;
    globalThis.__wkSyncSlot ??= slot; // target/page-split-slots.txt names it
    const request = new XMLHttpRequest();
    request.open("GET", __wkLazyUrl, false);
    request.overrideMimeType("text/plain; charset=x-user-defined");
    request.send();
    if (request.status !== 200) throw new Error(`webkad: ${__wkLazyUrl}: HTTP ${request.status}`);
    const text = request.responseText;
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i) & 0xff;
    __wkInstall(new WebAssembly.Module(bytes));
}
/** Loads the rest of the node's code (what joining does not need) in the background. */
export function loadLazy() {
    __wkLazy ??= WebAssembly.compileStreaming(fetch(__wkLazyUrl)).then(__wkInstall);
    return __wkLazy;
}
"#;

fn patch_glue(glue: &str, stem: &str) -> Result<String> {
    let Some(at) = glue.find(GLUE_IMPORT_ANCHOR) else {
        bail!("wasm-bindgen's glue has no `{GLUE_IMPORT_ANCHOR:?}` to add the wk imports to")
    };
    let at = at + GLUE_IMPORT_ANCHOR.len();
    let imports = "        \"wk\": { __proto__: null, load: __wkLoadSync },\n";
    let loader = LOADER.replace("LAZY_FILE", &format!("{stem}_lazy.wasm"));
    Ok(format!("{}{imports}{}{loader}", &glue[..at], &glue[at..]))
}
