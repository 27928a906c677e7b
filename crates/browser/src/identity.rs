//! The page's identity: an ed25519 key kept in `localStorage`, so a reload keeps the PeerId.

use libp2p::identity::Keypair;

/// Where the key lives unless the caller names another slot.
pub const DEFAULT_STORAGE_KEY: &str = "webkad.identity";

/// The stored key under `slot`, or a new one saved there. Storage that is missing or refuses
/// the write (private mode, quota) gives a fresh key for this session only.
pub fn load_or_create(slot: &str) -> Keypair {
    let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
    let Some(storage) = storage else {
        tracing::warn!("no localStorage: this page gets a new identity on every load");
        return Keypair::generate_ed25519();
    };
    if let Some(keypair) = storage
        .get_item(slot)
        .ok()
        .flatten()
        .and_then(|text| decode_hex(&text))
        .and_then(|bytes| Keypair::from_protobuf_encoding(&bytes).ok())
    {
        return keypair;
    }
    let keypair = Keypair::generate_ed25519();
    match keypair.to_protobuf_encoding() {
        Ok(bytes) => {
            if storage.set_item(slot, &encode_hex(&bytes)).is_err() {
                tracing::warn!("localStorage refused the identity: it lasts this session only");
            }
        }
        Err(error) => tracing::warn!(%error, "cannot encode the identity"),
    }
    keypair
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
