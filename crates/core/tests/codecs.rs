//! Property tests and fuzz targets for every codec webkad owns in the core crate: the
//! store's record and provider encoding, the direct-message codec, and the multiaddr
//! helpers at our edges.
//!
//! `fuzz_*` tests feed each decoder `WEBKAD_FUZZ_RUNS` generated inputs (default 512, a
//! smoke run in CI; `cargo xtask fuzz` runs a million): decoding arbitrary bytes never
//! panics, damage is always detected, and encode → decode is the identity.
#![cfg(not(target_arch = "wasm32"))]

use std::time::Duration;

use futures::io::Cursor;
use libp2p::{
    Multiaddr, PeerId, StreamProtocol,
    kad::{ProviderRecord, Record, RecordKey},
    multiaddr::Protocol,
    request_response::Codec,
};
use proptest::prelude::*;
use webkad_core::{addr, messaging::MessageCodec, store::encoding};

#[path = "support/fuzz.rs"]
mod fuzz_support;
use fuzz_support::fuzz;

fn peer_id() -> impl Strategy<Value = PeerId> {
    any::<[u8; 32]>().prop_map(|seed| {
        let key = libp2p::identity::Keypair::ed25519_from_bytes(seed).expect("32 bytes");
        key.public().to_peer_id()
    })
}

fn multiaddr() -> impl Strategy<Value = Multiaddr> {
    (any::<[u8; 4]>(), any::<u16>(), 0..4u8).prop_map(|(ip, port, transport)| {
        let base = Multiaddr::empty().with(Protocol::Ip4(ip.into()));
        match transport {
            0 => base.with(Protocol::Tcp(port)),
            1 => base.with(Protocol::Udp(port)).with(Protocol::QuicV1),
            2 => base
                .with(Protocol::Tcp(port))
                .with(Protocol::Ws("/".into())),
            _ => base.with(Protocol::Udp(port)).with(Protocol::WebRTCDirect),
        }
    })
}

/// An expiry an hour to a year ahead (in ms), or none.
fn expiry() -> impl Strategy<Value = Option<u64>> {
    proptest::option::of(3_600_000u64..31_536_000_000)
}

fn record() -> impl Strategy<Value = Record> {
    (
        proptest::collection::vec(any::<u8>(), 1..64),
        proptest::collection::vec(any::<u8>(), 0..512),
        proptest::option::of(peer_id()),
        expiry(),
    )
        .prop_map(|(key, value, publisher, expires)| {
            let mut record = Record::new(key, value);
            record.publisher = publisher;
            record.expires = expires.map(|ms| web_time::Instant::now() + Duration::from_millis(ms));
            record
        })
}

fn provider() -> impl Strategy<Value = ProviderRecord> {
    (
        proptest::collection::vec(any::<u8>(), 1..64),
        peer_id(),
        proptest::collection::vec(multiaddr(), 0..4),
        expiry(),
    )
        .prop_map(|(key, provider, addresses, expires)| ProviderRecord {
            key: RecordKey::new(&key),
            provider,
            expires: expires.map(|ms| web_time::Instant::now() + Duration::from_millis(ms)),
            addresses,
        })
}

/// Expiries survive as wall-clock milliseconds: equal within a second.
fn same_expiry(a: Option<web_time::Instant>, b: Option<web_time::Instant>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            let drift = if a > b { a - b } else { b - a };
            drift < Duration::from_secs(1)
        }
        _ => false,
    }
}

fn check_record_round_trip(record: Record) -> Result<(), TestCaseError> {
    let bytes = encoding::encode_record(&record);
    let decoded = encoding::decode_record(record.key.as_ref(), &bytes)
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .ok_or_else(|| TestCaseError::fail("decoded as expired"))?;
    prop_assert_eq!(&decoded.key, &record.key);
    prop_assert_eq!(&decoded.value, &record.value);
    prop_assert_eq!(decoded.publisher, record.publisher);
    prop_assert!(same_expiry(decoded.expires, record.expires));
    Ok(())
}

fn check_provider_round_trip(record: ProviderRecord) -> Result<(), TestCaseError> {
    let bytes = encoding::encode_provider(&record);
    let provider = record.provider.to_bytes();
    let decoded = encoding::decode_provider(record.key.as_ref(), &provider, &bytes)
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .ok_or_else(|| TestCaseError::fail("decoded as expired"))?;
    prop_assert_eq!(&decoded.key, &record.key);
    prop_assert_eq!(decoded.provider, record.provider);
    prop_assert_eq!(&decoded.addresses, &record.addresses);
    prop_assert!(same_expiry(decoded.expires, record.expires));
    Ok(())
}

/// One bit flipped anywhere in an entry (or its key) is always detected: CRC-32 catches
/// every single-bit error.
fn check_record_bit_flip(
    (record, at, bit, in_key): (Record, usize, u8, bool),
) -> Result<(), TestCaseError> {
    let mut bytes = encoding::encode_record(&record);
    let mut key = record.key.to_vec();
    let target = if in_key { &mut key } else { &mut bytes };
    let i = at % target.len();
    target[i] ^= 1 << (bit % 8);
    prop_assert!(encoding::decode_record(&key, &bytes).is_err());
    Ok(())
}

fn check_message_codec((bytes, limit): (Vec<u8>, usize)) -> Result<(), TestCaseError> {
    futures::executor::block_on(async {
        let proto = StreamProtocol::new("/webkad/msg/1.0.0");
        let mut codec = MessageCodec::new(limit);
        let read = codec
            .read_request(&proto, &mut Cursor::new(bytes.clone()))
            .await;
        match read {
            Ok(got) => {
                prop_assert!(bytes.len() <= limit);
                prop_assert_eq!(&got, &bytes);
            }
            Err(e) => {
                prop_assert!(bytes.len() > limit);
                prop_assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
            }
        }
        // write → read is the identity for what fits.
        let mut wire = Cursor::new(Vec::new());
        codec
            .write_response(&proto, &mut wire, bytes.clone())
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = codec
            .read_response(&proto, &mut Cursor::new(wire.into_inner()))
            .await;
        prop_assert_eq!(back.is_ok(), bytes.len() <= limit);
        Ok(())
    })
}

/// Every multiaddr helper on any bytes that decode as a multiaddr, and a peer id put in
/// is the one read back.
fn check_multiaddr_bytes((bytes, peer): (Vec<u8>, PeerId)) -> Result<(), TestCaseError> {
    if let Ok(addr) = Multiaddr::try_from(bytes) {
        exercise_addr(&addr, peer)?;
    }
    Ok(())
}

fn check_multiaddr_text((text, peer): (String, PeerId)) -> Result<(), TestCaseError> {
    if let Ok(addr) = text.parse::<Multiaddr>() {
        exercise_addr(&addr, peer)?;
        // Display → parse is the identity.
        let again: Multiaddr = addr
            .to_string()
            .parse()
            .map_err(|e: libp2p::multiaddr::Error| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again, addr);
    }
    Ok(())
}

fn exercise_addr(addr: &Multiaddr, peer: PeerId) -> Result<(), TestCaseError> {
    let _ = addr::transport_name(addr);
    let _ = addr::is_browser_dialable(addr);
    let _ = addr::is_relayed(addr);
    let _ = addr::relay_of(addr);
    let _ = addr::is_unspecified(addr);
    let _ = addr::peer_id_of(addr);
    let with = addr::with_peer_id(addr, peer);
    prop_assert_eq!(addr::peer_id_of(&with), Some(peer));
    Ok(())
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

/// Multiaddr-ish text: mostly protocol names, numbers and slashes, so parsing gets deep.
fn multiaddr_text() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just("/ip4/".to_owned()),
        Just("/ip6/".to_owned()),
        Just("/tcp/".to_owned()),
        Just("/udp/".to_owned()),
        Just("/quic-v1".to_owned()),
        Just("/ws".to_owned()),
        Just("/webrtc-direct".to_owned()),
        Just("/certhash/".to_owned()),
        Just("/p2p-circuit".to_owned()),
        Just("/p2p/".to_owned()),
        Just("/dns4/".to_owned()),
        (0u32..70_000).prop_map(|n| n.to_string()),
        "[a-zA-Z0-9.:]{0,12}".prop_map(|s| s),
        any::<char>().prop_map(|c| c.to_string()),
    ];
    proptest::collection::vec(part, 0..8).prop_map(|parts| parts.concat())
}

#[test]
fn fuzz_record_decoding() {
    fuzz(
        "record decoding",
        (bytes(64), bytes(512)),
        |(key, value)| {
            let _ = encoding::decode_record(&key, &value);
            let _ = encoding::decode_legacy_record(&key, &value);
            Ok(())
        },
    );
}

#[test]
fn fuzz_provider_decoding() {
    fuzz(
        "provider decoding",
        (bytes(64), bytes(64), bytes(512)),
        |(key, provider, value)| {
            let _ = encoding::decode_provider(&key, &provider, &value);
            let _ = encoding::decode_legacy_provider(&key, &provider, &value);
            Ok(())
        },
    );
}

#[test]
fn fuzz_record_round_trip_and_damage() {
    fuzz(
        "record round trip + bit flips",
        (record(), any::<usize>(), any::<u8>(), any::<bool>()),
        |(record, at, bit, in_key)| {
            check_record_round_trip(record.clone())?;
            check_record_bit_flip((record, at, bit, in_key))
        },
    );
}

#[test]
fn fuzz_provider_round_trip() {
    fuzz("provider round trip", provider(), check_provider_round_trip);
}

#[test]
fn fuzz_message_codec() {
    fuzz(
        "message codec",
        (bytes(2048), 0usize..1536),
        check_message_codec,
    );
}

#[test]
fn fuzz_multiaddr_bytes() {
    fuzz(
        "multiaddr bytes",
        (bytes(96), peer_id()),
        check_multiaddr_bytes,
    );
}

#[test]
fn fuzz_multiaddr_text() {
    fuzz(
        "multiaddr text",
        (multiaddr_text(), peer_id()),
        check_multiaddr_text,
    );
}

proptest! {
    #[test]
    fn records_round_trip(record in record()) {
        check_record_round_trip(record)?;
    }

    #[test]
    fn providers_round_trip(record in provider()) {
        check_provider_round_trip(record)?;
    }

    #[test]
    fn a_flipped_bit_is_always_detected(
        input in (record(), any::<usize>(), any::<u8>(), any::<bool>())
    ) {
        check_record_bit_flip(input)?;
    }

    #[test]
    fn well_formed_addresses_keep_their_peer_id(addr in multiaddr(), peer in peer_id()) {
        exercise_addr(&addr, peer)?;
        prop_assert!(addr::transport_name(&addr) != "other");
    }
}
