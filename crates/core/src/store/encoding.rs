//! The on-disk form of records and provider records.
//!
//! `Instant`s cannot be stored, so expiry is kept as milliseconds since the Unix epoch and
//! turned back into an `Instant` on load. Everything else is stored as the bytes libp2p
//! itself uses for it (peer ids, multiaddrs), encoded with postcard.
//!
//! Each entry starts with a CRC-32 (little-endian) over what identifies and holds it: a
//! tag for its table, the key (and provider), and the postcard bytes. redb does not
//! checksum pages of durably committed transactions, so bytes flipped on disk would
//! otherwise decode as a wrong value, or as the right value under a wrong key.

use libp2p::{
    Multiaddr, PeerId,
    kad::{ProviderRecord, Record, RecordKey},
};
use serde::{Deserialize, Serialize};
use web_time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A stored entry that cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodingError {
    /// The bytes are not a postcard encoding of the entry.
    #[error("undecodable stored entry: {0}")]
    Postcard(#[from] postcard::Error),
    /// A peer id inside the entry is invalid.
    #[error("stored entry has an invalid peer id")]
    PeerId,
    /// A multiaddr inside the entry is invalid.
    #[error("stored entry has an invalid multiaddr")]
    Multiaddr,
    /// The entry is shorter than its checksum.
    #[error("stored entry is truncated ({0} bytes)")]
    Truncated(usize),
    /// The checksum does not match: the entry (or its key) was damaged on disk.
    #[error("stored entry fails its checksum (damaged on disk)")]
    Checksum,
}

const RECORD_TAG: &[u8] = b"webkad-record\0";
const PROVIDER_TAG: &[u8] = b"webkad-provider\0";
const CHECKSUM_BYTES: usize = 4;

fn checksum(parts: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for part in parts {
        // Each part's length goes in too, so ("ab", "c") and ("a", "bc") differ.
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize()
}

fn seal(parts: &[&[u8]], body: Vec<u8>) -> Vec<u8> {
    let mut all = parts.to_vec();
    all.push(&body);
    let mut sealed = checksum(&all).to_le_bytes().to_vec();
    sealed.extend_from_slice(&body);
    sealed
}

fn open<'a>(parts: &[&[u8]], bytes: &'a [u8]) -> Result<&'a [u8], EncodingError> {
    if bytes.len() < CHECKSUM_BYTES {
        return Err(EncodingError::Truncated(bytes.len()));
    }
    let (sum, body) = bytes.split_at(CHECKSUM_BYTES);
    let mut all = parts.to_vec();
    all.push(body);
    let expected = checksum(&all).to_le_bytes();
    if sum != expected {
        return Err(EncodingError::Checksum);
    }
    Ok(body)
}

#[derive(Serialize, Deserialize)]
struct StoredRecord {
    value: Vec<u8>,
    publisher: Option<Vec<u8>>,
    expires_unix_ms: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct StoredProvider {
    addresses: Vec<Vec<u8>>,
    expires_unix_ms: Option<u64>,
}

/// Encodes a record's value, publisher and expiry (the key is the table key), sealed with
/// a checksum over key and body.
pub fn encode_record(record: &Record) -> Vec<u8> {
    let stored = StoredRecord {
        value: record.value.clone(),
        publisher: record.publisher.map(|p| p.to_bytes()),
        expires_unix_ms: record.expires.map(instant_to_unix_ms),
    };
    let body = postcard::to_stdvec(&stored).unwrap_or_default();
    seal(&[RECORD_TAG, record.key.as_ref()], body)
}

/// Decodes a record stored under `key`, checking its checksum; `None` when it has expired.
pub fn decode_record(key: &[u8], bytes: &[u8]) -> Result<Option<Record>, EncodingError> {
    let body = open(&[RECORD_TAG, key], bytes)?;
    decode_record_body(key, body)
}

/// Decodes a record of a store written before checksums (issue 12); used only to migrate.
pub fn decode_legacy_record(key: &[u8], bytes: &[u8]) -> Result<Option<Record>, EncodingError> {
    decode_record_body(key, bytes)
}

fn decode_record_body(key: &[u8], bytes: &[u8]) -> Result<Option<Record>, EncodingError> {
    let stored: StoredRecord = postcard::from_bytes(bytes)?;
    let Some(expires) = unix_ms_to_instant(stored.expires_unix_ms) else {
        return Ok(None);
    };
    let publisher = stored
        .publisher
        .map(|p| PeerId::from_bytes(&p).map_err(|_| EncodingError::PeerId))
        .transpose()?;
    Ok(Some(Record {
        key: RecordKey::new(&key),
        value: stored.value,
        publisher,
        expires,
    }))
}

/// Encodes a provider record's addresses and expiry (key and provider are the table key),
/// sealed with a checksum over key, provider and body.
pub fn encode_provider(record: &ProviderRecord) -> Vec<u8> {
    let stored = StoredProvider {
        addresses: record.addresses.iter().map(|a| a.to_vec()).collect(),
        expires_unix_ms: record.expires.map(instant_to_unix_ms),
    };
    let body = postcard::to_stdvec(&stored).unwrap_or_default();
    let provider = record.provider.to_bytes();
    seal(&[PROVIDER_TAG, record.key.as_ref(), &provider], body)
}

/// Decodes a provider record, checking its checksum; `None` when it has expired.
pub fn decode_provider(
    key: &[u8],
    provider: &[u8],
    bytes: &[u8],
) -> Result<Option<ProviderRecord>, EncodingError> {
    let body = open(&[PROVIDER_TAG, key, provider], bytes)?;
    decode_provider_body(key, provider, body)
}

/// Decodes a provider record of a store written before checksums; used only to migrate.
pub fn decode_legacy_provider(
    key: &[u8],
    provider: &[u8],
    bytes: &[u8],
) -> Result<Option<ProviderRecord>, EncodingError> {
    decode_provider_body(key, provider, bytes)
}

fn decode_provider_body(
    key: &[u8],
    provider: &[u8],
    bytes: &[u8],
) -> Result<Option<ProviderRecord>, EncodingError> {
    let stored: StoredProvider = postcard::from_bytes(bytes)?;
    let Some(expires) = unix_ms_to_instant(stored.expires_unix_ms) else {
        return Ok(None);
    };
    let provider = PeerId::from_bytes(provider).map_err(|_| EncodingError::PeerId)?;
    let addresses = stored
        .addresses
        .into_iter()
        .map(|a| Multiaddr::try_from(a).map_err(|_| EncodingError::Multiaddr))
        .collect::<Result<_, _>>()?;
    Ok(Some(ProviderRecord {
        key: RecordKey::new(&key),
        provider,
        expires,
        addresses,
    }))
}

fn instant_to_unix_ms(at: Instant) -> u64 {
    let remaining = at.saturating_duration_since(Instant::now());
    let Some(wall) = SystemTime::now().checked_add(remaining) else {
        return u64::MAX;
    };
    let since_epoch = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

/// `Some(None)` for "never expires", `Some(Some(instant))` for a live expiry, and `None`
/// when the expiry has passed.
fn unix_ms_to_instant(ms: Option<u64>) -> Option<Option<Instant>> {
    let Some(ms) = ms else { return Some(None) };
    // Checked arithmetic throughout: a damaged (or hostile) expiry far in the future must
    // not overflow `SystemTime` or `Instant`; such an entry never expires.
    let Some(wall) = UNIX_EPOCH.checked_add(Duration::from_millis(ms)) else {
        return Some(None);
    };
    let remaining = wall.duration_since(SystemTime::now()).ok()?;
    if remaining.is_zero() {
        return None;
    }
    Some(Instant::now().checked_add(remaining))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_with_its_expiry() {
        let mut record = Record::new(b"k".to_vec(), b"value".to_vec());
        record.publisher = Some(PeerId::random());
        record.expires = Some(Instant::now() + Duration::from_secs(3600));
        let decoded = decode_record(b"k", &encode_record(&record))
            .expect("decodes")
            .expect("not expired");
        assert_eq!(decoded.value, record.value);
        assert_eq!(decoded.publisher, record.publisher);
        let drift = decoded
            .expires
            .expect("has expiry")
            .duration_since(record.expires.expect("has expiry"))
            .as_millis();
        assert!(drift < 1000, "expiry drifted by {drift} ms");
    }

    #[test]
    fn expired_entries_decode_as_none() {
        let mut record = Record::new(b"k".to_vec(), b"v".to_vec());
        record.expires = Some(Instant::now());
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            decode_record(b"k", &encode_record(&record))
                .expect("decodes")
                .is_none()
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_record(b"k", &[0xff, 0xff, 0xff]).is_err());
        assert!(decode_provider(b"k", b"not a peer id", &[0]).is_err());
    }
}
