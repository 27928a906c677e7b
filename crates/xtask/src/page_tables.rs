//! Curve tables computed in the browser instead of shipped in the wasm.
//!
//! curve25519-dalek's `precomputed-tables` feature (on through libp2p-identity's
//! ed25519-dalek and libp2p-noise's x25519-dalek; no feature of ours turns it off) puts two
//! tables of Ed25519 points in the page's wasm: 38,400 bytes that brotli cannot shrink, a
//! tenth of what the page fetches before `joined`. `web/curve-tables.js` computes the same
//! bytes in about 10 ms. This step runs that script under Node, finds its exact output in
//! the wasm's active data segments, zeroes it there (zeros compress to nothing), and makes
//! wasm-bindgen's glue write the computed tables into memory before `__wbindgen_start`,
//! that is before any Rust code runs. When Node is missing or the bytes are not found
//! exactly once (a dalek release changed its layout), the wasm stays as it was.

use std::fs;
use std::ops::Range;

use anyhow::{Context, Result, bail};
use wasmparser::{DataKind, Operator, Parser, Payload};

use crate::cmd::{program, workspace_root};

/// The call the glue gets, before wasm-bindgen starts the module.
const START: &str = "    wasm.__wbindgen_start();\n";

/// What the step did, for the log.
pub enum Outcome {
    /// The tables are computed in the page; `bytes` were zeroed in the wasm.
    Computed { bytes: usize },
    /// The wasm is unchanged, for this reason.
    Skipped(String),
}

/// Zeroes the curve tables in `wasm` and makes `glue` compute them; see the module docs.
pub fn compute_in_page(wasm: &mut [u8], glue: &mut String) -> Result<Outcome> {
    let script_path = workspace_root().join("web/curve-tables.js");
    let script = fs::read_to_string(&script_path)
        .with_context(|| format!("cannot read {}", script_path.display()))?;
    let Some((odd, base)) = tables_from_node(&script_path.to_string_lossy()) else {
        return Ok(Outcome::Skipped(
            "node did not run web/curve-tables.js".into(),
        ));
    };
    let segments = active_segments(wasm)?;
    let (Some(odd_at), Some(base_at)) = (
        locate(wasm, &segments, &odd),
        locate(wasm, &segments, &base),
    ) else {
        return Ok(Outcome::Skipped(
            "the tables are not in the wasm's data exactly once".into(),
        ));
    };
    if !glue.contains(START) {
        bail!(
            "wasm-bindgen's glue has no `{}` to fill the tables before",
            START.trim()
        );
    }
    for (at, len) in [(odd_at.0, odd.len()), (base_at.0, base.len())] {
        wasm[at..at + len].fill(0);
    }
    let call = format!(
        "    __wkFillCurveTables(wasm.memory, {}, {});\n{START}",
        odd_at.1, base_at.1
    );
    *glue = format!("{}\n{script}", glue.replacen(START, &call, 1));
    Ok(Outcome::Computed {
        bytes: odd.len() + base.len(),
    })
}

/// Runs the script under Node: its `odd` and `base` tables, or `None` without Node.
fn tables_from_node(script: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let run = "const src = require('fs').readFileSync(process.argv[1], 'utf8');\
               const t = new Function(src + '; return __wkCurveTables;')()();\
               process.stdout.write(Buffer.from(t.odd).toString('hex') + ' ' +\
               Buffer.from(t.base).toString('hex'));";
    let out = program("node", &["-e", run, script]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let (odd, base) = text.split_once(' ')?;
    Some((hex(odd)?, hex(base)?))
}

fn hex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Each active data segment of memory 0: its bytes' range in the file and its address.
fn active_segments(wasm: &[u8]) -> Result<Vec<(Range<usize>, u32)>> {
    let mut segments = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let Payload::DataSection(reader) = payload? else {
            continue;
        };
        for data in reader {
            let data = data?;
            let DataKind::Active {
                memory_index: 0,
                offset_expr,
            } = data.kind
            else {
                continue;
            };
            let Some(Ok(Operator::I32Const { value })) =
                offset_expr.get_operators_reader().into_iter().next()
            else {
                continue;
            };
            let start = data.data.as_ptr() as usize - wasm.as_ptr() as usize;
            segments.push((start..start + data.data.len(), value as u32));
        }
    }
    Ok(segments)
}

/// Where `needle` stands in `wasm`, if exactly once and inside one active data segment:
/// its offset in the file and its address in memory.
fn locate(wasm: &[u8], segments: &[(Range<usize>, u32)], needle: &[u8]) -> Option<(usize, u32)> {
    let mut found = wasm
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i);
    let at = found.next()?;
    if found.next().is_some() {
        return None;
    }
    let (range, address) = segments
        .iter()
        .find(|(range, _)| range.start <= at && at + needle.len() <= range.end)?;
    Some((at, address + (at - range.start) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module with one active segment at address 1024 holding `payload`.
    fn module_with(payload: &[u8]) -> Vec<u8> {
        let mut module = wasm_encoder::Module::new();
        let mut memory = wasm_encoder::MemorySection::new();
        memory.memory(wasm_encoder::MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        module.section(&memory);
        let mut data = wasm_encoder::DataSection::new();
        data.active(
            0,
            &wasm_encoder::ConstExpr::i32_const(1024),
            payload.iter().copied(),
        );
        module.section(&data);
        module.finish()
    }

    #[test]
    fn finds_the_address_of_bytes_in_a_segment() {
        let wasm = module_with(b"....needle....");
        let segments = active_segments(&wasm).expect("valid module");
        let (at, address) = locate(&wasm, &segments, b"needle").expect("found");
        assert_eq!(&wasm[at..at + 6], b"needle");
        assert_eq!(address, 1024 + 4);
    }

    #[test]
    fn refuses_bytes_that_stand_twice() {
        let wasm = module_with(b"needle..needle");
        let segments = active_segments(&wasm).expect("valid module");
        assert!(locate(&wasm, &segments, b"needle").is_none());
    }

    #[test]
    fn the_script_computes_dalek_s_first_entry() {
        let path = workspace_root().join("web/curve-tables.js");
        let Some((odd, base)) = tables_from_node(&path.to_string_lossy()) else {
            eprintln!("skipping: node is not on PATH");
            return;
        };
        assert_eq!((odd.len(), base.len()), (64 * 120, 32 * 8 * 120));
        // Both tables start with B itself. Its y − x limbs are the reference ones (ref10's
        // `Bi[0]`, the same 26/25-bit radix as curve25519-dalek's u32 backend).
        assert_eq!(odd[..120], base[..120]);
        let limbs: Vec<u32> = (odd[40..80].chunks(4))
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        assert_eq!(limbs[..4], [54_563_134, 934_261, 64_385_954, 3_049_989]);
    }
}
