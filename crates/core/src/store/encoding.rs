//! The on-disk form of records and provider records.
//!
//! `Instant`s cannot be stored, so expiry is kept as milliseconds since the Unix epoch and
//! turned back into an `Instant` on load. Everything else is stored as the bytes libp2p
//! itself uses for it (peer ids, multiaddrs), encoded with postcard.

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

/// Encodes a record's value, publisher and expiry (the key is the table key).
pub fn encode_record(record: &Record) -> Vec<u8> {
    let stored = StoredRecord {
        value: record.value.clone(),
        publisher: record.publisher.map(|p| p.to_bytes()),
        expires_unix_ms: record.expires.map(instant_to_unix_ms),
    };
    postcard::to_stdvec(&stored).expect("encoding into a Vec cannot fail")
}

/// Decodes a record stored under `key`; `None` when it has expired.
pub fn decode_record(key: &[u8], bytes: &[u8]) -> Result<Option<Record>, EncodingError> {
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

/// Encodes a provider record's addresses and expiry (key and provider are the table key).
pub fn encode_provider(record: &ProviderRecord) -> Vec<u8> {
    let stored = StoredProvider {
        addresses: record.addresses.iter().map(|a| a.to_vec()).collect(),
        expires_unix_ms: record.expires.map(instant_to_unix_ms),
    };
    postcard::to_stdvec(&stored).expect("encoding into a Vec cannot fail")
}

/// Decodes a provider record; `None` when it has expired.
pub fn decode_provider(
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
    let wall = SystemTime::now() + remaining;
    let since_epoch = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

/// `Some(None)` for "never expires", `Some(Some(instant))` for a live expiry, and `None`
/// when the expiry has passed.
fn unix_ms_to_instant(ms: Option<u64>) -> Option<Option<Instant>> {
    let Some(ms) = ms else { return Some(None) };
    let wall = UNIX_EPOCH + Duration::from_millis(ms);
    let remaining = wall.duration_since(SystemTime::now()).ok()?;
    if remaining.is_zero() {
        return None;
    }
    Some(Some(Instant::now() + remaining))
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
