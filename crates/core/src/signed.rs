//! Owner-signed records: keys under `/webkad/pk/<peer-id>/<name>` that only that peer can
//! write.
//!
//! The value of such a record is a libp2p signed envelope (RFC 0002, libp2p-core's
//! [`SignedEnvelope`]): the signer's public key, a payload type and the payload, signed
//! over a domain string, so a signature made for webkad records can never pass for one made
//! for another purpose (a peer record, say). The payload is ours: the record's full key, a
//! sequence number and the value, postcard-encoded. The key in the payload binds the
//! signature to one name (a record signed for `a` cannot be replayed under `b`); the
//! sequence number orders the owner's writes, as IPNS's does: a store keeps the higher one
//! and refuses a lower one or a different value under the same number.
//!
//! Why the envelope and not an IPNS record: IPNS carries a CID path, a validity type and
//! CBOR data in a protobuf, and signs a CBOR encoding; the envelope is standard libp2p,
//! already in the page's wasm (rendezvous signs peer records with it) and costs no new
//! code. The signing key travels in the envelope, so any key type works, and a reader
//! checks that it hashes to the peer id in the record's key.

use libp2p::{
    PeerId,
    core::SignedEnvelope,
    identity::Keypair,
    kad::{Record, RecordKey},
};

/// The key prefix of owner-signed records.
pub const PREFIX: &str = "/webkad/pk/";
/// The envelope's domain separation string.
const DOMAIN: &str = "webkad-signed-record";
/// The envelope's payload type.
const PAYLOAD_TYPE: &[u8] = b"/webkad/signed-record/1";

/// What the owner signs.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Payload {
    key: Vec<u8>,
    seq: u64,
    value: Vec<u8>,
}

/// A signed record whose signature, key and owner were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The peer whose key signed it (the one named in the record's key).
    pub owner: PeerId,
    /// The owner's sequence number.
    pub seq: u64,
    /// The value.
    pub value: Vec<u8>,
}

/// Why a record under the signed prefix is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// The key does not name a peer and a name (`/webkad/pk/<peer-id>/<name>`).
    #[error("a signed key must be {PREFIX}<peer-id>/<name>")]
    BadKey,
    /// The value is not a signed envelope, or its signature or payload does not check.
    #[error("the value is not a valid signed record ({0})")]
    BadSignature(String),
    /// The signing key is not the key of the peer the record's key names.
    #[error("signed by {signer}, but the key belongs to {owner}")]
    WrongSigner {
        /// Who signed it (a peer id).
        signer: String,
        /// Who owns the key (a peer id).
        owner: String,
    },
    /// The signed payload is for another key (a signature replayed under a new name).
    #[error("the signature is for another key")]
    OtherKey,
}

/// The signed key of `owner`'s record `name`.
pub fn key(owner: &PeerId, name: &str) -> Vec<u8> {
    format!("{PREFIX}{owner}/{name}").into_bytes()
}

/// The owner a key under the signed prefix names; `None` for a plain key, `Some(Err)` for
/// a key under the prefix that names no peer or no name.
pub fn owner_of(key: &[u8]) -> Option<Result<PeerId, Invalid>> {
    let rest = key.strip_prefix(PREFIX.as_bytes())?;
    let parsed = (|| {
        let slash = rest.iter().position(|b| *b == b'/')?;
        let (peer, name) = (&rest[..slash], &rest[slash + 1..]);
        if name.is_empty() {
            return None;
        }
        std::str::from_utf8(peer).ok()?.parse::<PeerId>().ok()
    })();
    Some(parsed.ok_or(Invalid::BadKey))
}

/// Reads a key as a user writes one: `<peer-id>/<name>` (or the full `/webkad/pk/…` form)
/// names a signed record; anything else is a plain key.
pub fn parse_user_key(text: &str) -> Vec<u8> {
    if let Some((peer, name)) = text.split_once('/')
        && !name.is_empty()
        && let Ok(owner) = peer.parse::<PeerId>()
    {
        return key(&owner, name);
    }
    text.as_bytes().to_vec()
}

/// Signs `value` as `keypair`'s record `name` at `seq`; returns the key and the record value.
pub fn sign(keypair: &Keypair, name: &str, seq: u64, value: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    let key = key(&keypair.public().to_peer_id(), name);
    let payload = Payload {
        key: key.clone(),
        seq,
        value,
    };
    let payload = postcard::to_allocvec(&payload).unwrap_or_default();
    let envelope = SignedEnvelope::new(keypair, DOMAIN.to_owned(), PAYLOAD_TYPE.to_vec(), payload);
    // Signing with an ed25519/secp256k1/ECDSA key cannot fail; RSA signing may, and then
    // the empty value is refused by every store as a bad signature.
    let bytes = envelope
        .map(SignedEnvelope::into_protobuf_encoding)
        .unwrap_or_default();
    (key, bytes)
}

/// Checks a record under the signed prefix: `Ok(None)` for a plain key.
pub fn verify(key: &[u8], value: &[u8]) -> Result<Option<Verified>, Invalid> {
    let Some(owner) = owner_of(key) else {
        return Ok(None);
    };
    let owner = owner?;
    let bad = |e: &dyn std::fmt::Display| Invalid::BadSignature(e.to_string());
    let envelope = SignedEnvelope::from_protobuf_encoding(value).map_err(|e| bad(&e))?;
    let (payload, signer) = envelope
        .payload_and_signing_key(DOMAIN.to_owned(), PAYLOAD_TYPE)
        .map_err(|e| bad(&e))?;
    let signer = signer.to_peer_id();
    if signer != owner {
        return Err(Invalid::WrongSigner {
            signer: signer.to_string(),
            owner: owner.to_string(),
        });
    }
    let payload: Payload = postcard::from_bytes(payload).map_err(|e| bad(&e))?;
    if payload.key != key {
        return Err(Invalid::OtherKey);
    }
    Ok(Some(Verified {
        owner,
        seq: payload.seq,
        value: payload.value,
    }))
}

/// Why a store refuses a signed record (the causes it adds to the size and space limits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// The record does not verify.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// A higher sequence number is held.
    #[error("sequence {offered} is older than the {held} held")]
    Stale {
        /// The sequence number held.
        held: u64,
        /// The one offered.
        offered: u64,
    },
    /// The same sequence number with another value.
    #[error("sequence {0} is held with another value")]
    SameSequence(u64),
}

/// Whether `record` may replace `held` (the store's copy under the same key, if any).
/// Plain keys always may; a signed record must verify and be newer than the copy held
/// (the same sequence with the same value is a harmless re-put: replication, a retry).
pub fn check_replace(record: &Record, held: Option<&Record>) -> Result<(), Conflict> {
    let Some(new) = verify(record.key.as_ref(), &record.value)? else {
        return Ok(());
    };
    let Some(held) = held.and_then(|r| verify(r.key.as_ref(), &r.value).ok().flatten()) else {
        return Ok(());
    };
    match new.seq.cmp(&held.seq) {
        std::cmp::Ordering::Greater => Ok(()),
        std::cmp::Ordering::Less => Err(Conflict::Stale {
            held: held.seq,
            offered: new.seq,
        }),
        std::cmp::Ordering::Equal if new.value == held.value => Ok(()),
        std::cmp::Ordering::Equal => Err(Conflict::SameSequence(new.seq)),
    }
}

/// The sequence number of a signed record's copy, for the next write.
pub fn seq_of(key: &RecordKey, value: &[u8]) -> Option<u64> {
    verify(key.as_ref(), value).ok().flatten().map(|v| v.seq)
}

#[cfg(test)]
mod tests;
