//! Where the wasm's bytes go: every function body of a build that keeps its name section,
//! attributed to the crate that defines it and to a kind of code (formatting, panics, JS
//! conversion, crypto, codecs, metrics, …), so that each cut is aimed before it is made.
//!
//! `cargo xtask bench-page` builds that wasm with the `wasm-profile` profile: the page's
//! `wasm-release` settings, but with symbols kept, before wasm-bindgen and wasm-opt. The
//! shares carry over to the page's wasm; the byte counts are of this build.

use std::collections::BTreeMap;

use wasmparser::{KnownCustom, Name, Parser, Payload};

/// Bytes attributed to one crate or kind.
pub struct Share {
    pub name: String,
    pub bytes: usize,
}

/// The attribution of one module.
pub struct Profile {
    pub total: usize,
    pub code: usize,
    pub data: usize,
    pub by_crate: Vec<Share>,
    pub by_kind: Vec<Share>,
}

/// Reads `bytes` (a wasm module with a name section) into a [`Profile`].
pub fn profile(bytes: &[u8]) -> Profile {
    let mut imported = 0u32;
    let mut bodies: Vec<usize> = Vec::new();
    let mut names: BTreeMap<u32, String> = BTreeMap::new();
    let mut data = 0;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.expect("a valid wasm module") {
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    let import = import.expect("a valid import");
                    if matches!(import.ty, wasmparser::TypeRef::Func(_)) {
                        imported += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let range = body.range();
                bodies.push(usize::try_from(range.end - range.start).expect("a body under 4 GiB"));
            }
            Payload::DataSection(section) => {
                let range = section.range();
                data += usize::try_from(range.end - range.start).expect("data under 4 GiB");
            }
            Payload::CustomSection(section) => {
                if let KnownCustom::Name(reader) = section.as_known() {
                    for name in reader.into_iter().flatten() {
                        if let Name::Function(map) = name {
                            for naming in map.into_iter().flatten() {
                                names.insert(naming.index, naming.name.to_owned());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut by_crate: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for (i, size) in bodies.iter().enumerate() {
        let index = imported + u32::try_from(i).expect("fewer than 2^32 functions");
        let name = names
            .get(&index)
            .map(|n| rustc_demangle::demangle(n).to_string())
            .unwrap_or_default();
        *by_crate.entry(crate_of(&name)).or_default() += size;
        *by_kind.entry(kind_of(&name).to_owned()).or_default() += size;
    }
    *by_kind
        .entry("data (strings, tables)".to_owned())
        .or_default() += data;
    let code = bodies.iter().sum();
    Profile {
        total: bytes.len(),
        code,
        data,
        by_crate: sorted(by_crate),
        by_kind: sorted(by_kind),
    }
}

fn sorted(map: BTreeMap<String, usize>) -> Vec<Share> {
    let mut shares: Vec<Share> = map
        .into_iter()
        .map(|(name, bytes)| Share { name, bytes })
        .collect();
    shares.sort_by_key(|s| std::cmp::Reverse(s.bytes));
    shares
}

/// The crate a demangled symbol belongs to: its first path segment, or for an impl
/// (`<T as Trait>::f`) the crate of the type.
pub fn crate_of(symbol: &str) -> String {
    if symbol.is_empty() {
        return "(unnamed)".to_owned();
    }
    let s = symbol.trim_start_matches(['<', '&', '*', '(', '[', ' ']);
    let s = s
        .trim_start_matches("mut ")
        .trim_start_matches("const ")
        .trim_start_matches("dyn ");
    let s = s.trim_start_matches(['<', '&', '(', '[']);
    let end = s.find("::").unwrap_or(s.len());
    // v0 symbols name a crate with its disambiguator: `hashbrown[8e13…]`.
    let head = s[..end].split('[').next().unwrap_or("");
    let head = head
        .split(['<', ' ', '>', ',', ';', ')'])
        .next()
        .unwrap_or(head);
    if head.is_empty() { "(other)" } else { head }.to_owned()
}

/// The feature or kind of code a demangled symbol belongs to, first match wins: a generic
/// instantiated for a protocol's types (`HashMap<TopicHash, …>`) counts for that protocol.
pub fn kind_of(symbol: &str) -> &'static str {
    const KINDS: &[(&str, &[&str])] = &[
        (
            "metrics (prometheus-client, libp2p-metrics, summary)",
            &[
                "prometheus_client",
                "libp2p_metrics",
                "webkad_core::metrics",
                "NodeStats",
            ],
        ),
        ("gossipsub (rooms)", &["gossipsub"]),
        ("rendezvous (discovery)", &["rendezvous"]),
        ("relay client", &["libp2p_relay"]),
        ("kademlia", &["libp2p_kad"]),
        ("identify, ping", &["libp2p_identify", "libp2p_ping"]),
        ("request-response (direct messages)", &["request_response"]),
        ("webrtc-direct", &["webrtc", "tinytemplate"]),
        ("websocket", &["websocket"]),
        (
            "noise and crypto (snow, curve25519, ciphers)",
            &[
                "noise",
                "snow",
                "curve25519",
                "x25519",
                "chacha",
                "poly1305",
                "blake2",
                "aes",
                "ghash",
                "polyval",
                "hkdf",
                "hmac",
                "zeroize",
            ],
        ),
        (
            "hashes and signatures (sha2, ed25519)",
            &["sha2", "ed25519"],
        ),
        (
            "multiformats (multiaddr, multibase, multihash)",
            &[
                "multiaddr",
                "multihash",
                "multibase",
                "data_encoding",
                "base_x",
                "bs58",
                "base256emoji",
                "base64",
                "unsigned_varint",
            ],
        ),
        (
            "protobuf (prost, quick-protobuf)",
            &["prost", "quick_protobuf", "asynchronous_codec"],
        ),
        (
            "swarm, yamux, multistream",
            &["libp2p_swarm", "libp2p_core", "multistream", "yamux"],
        ),
        (
            "JS conversion (wasm-bindgen, serde)",
            &["wasm_bindgen", "js_sys", "web_sys", "serde", "send_wrapper"],
        ),
        (
            "formatting (Debug/Display)",
            &[
                "core::fmt",
                "alloc::fmt",
                "as core::fmt::",
                "flt2dec",
                "dtoa",
                "ryu",
            ],
        ),
        (
            "async plumbing (futures, channels)",
            &["futures", "Waker", "core::task"],
        ),
        (
            "collections (hashbrown, btree, vec)",
            &[
                "hashbrown",
                "btree",
                "BTree",
                "alloc::vec",
                "raw_vec",
                "VecDeque",
                "smallvec",
            ],
        ),
        ("webkad's own code", &["webkad_core", "webkad_browser"]),
        (
            "memory allocator",
            &[
                "dlmalloc",
                "__rust_alloc",
                "__rust_dealloc",
                "__rust_realloc",
            ],
        ),
    ];
    for (kind, needles) in KINDS {
        if needles.iter().any(|n| symbol.contains(n)) {
            return kind;
        }
    }
    if symbol.is_empty() {
        "(unnamed)"
    } else {
        "other (std, core, alloc, the rest)"
    }
}
