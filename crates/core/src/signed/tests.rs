use libp2p::{identity::Keypair, kad::Record};

use super::*;

fn record(key: Vec<u8>, value: Vec<u8>) -> Record {
    Record::new(RecordKey::new(&key), value)
}

#[test]
fn a_signed_record_verifies_with_its_owner_seq_and_value() {
    let owner = Keypair::generate_ed25519();
    let (key, value) = sign(&owner, "profile", 7, b"hello".to_vec());
    let verified = verify(&key, &value).expect("valid").expect("signed");
    assert_eq!(verified.owner, owner.public().to_peer_id());
    assert_eq!(
        (verified.seq, verified.value.as_slice()),
        (7, &b"hello"[..])
    );
}

#[test]
fn plain_keys_are_not_checked() {
    assert_eq!(verify(b"plain", b"anything"), Ok(None));
    assert_eq!(parse_user_key("plain/key"), b"plain/key".to_vec());
}

#[test]
fn user_keys_naming_a_peer_are_signed_keys() {
    let peer = Keypair::generate_ed25519().public().to_peer_id();
    assert_eq!(parse_user_key(&format!("{peer}/a/b")), key(&peer, "a/b"));
    assert_eq!(owner_of(&key(&peer, "x")), Some(Ok(peer)));
    assert_eq!(owner_of(b"/webkad/pk/nope/x"), Some(Err(Invalid::BadKey)));
    assert_eq!(
        owner_of(format!("/webkad/pk/{peer}/").as_bytes()),
        Some(Err(Invalid::BadKey))
    );
}

#[test]
fn forgeries_are_invalid() {
    let owner = Keypair::generate_ed25519();
    let other = Keypair::generate_ed25519();
    let (key, _) = sign(&owner, "n", 1, b"v".to_vec());
    // Another peer's signature under the owner's key.
    let (_, forged) = sign(&other, "n", 1, b"evil".to_vec());
    assert!(matches!(
        verify(&key, &forged),
        Err(Invalid::WrongSigner { .. })
    ));
    // Not an envelope at all.
    assert!(matches!(
        verify(&key, b"plain text"),
        Err(Invalid::BadSignature(_))
    ));
    // The owner's own signature for another name.
    let (_, moved) = sign(&owner, "m", 1, b"v".to_vec());
    assert_eq!(verify(&key, &moved), Err(Invalid::OtherKey));
    // One flipped byte of the value.
    let (_, mut tampered) = sign(&owner, "n", 1, b"value".to_vec());
    let at = tampered
        .windows(5)
        .position(|w| w == b"value")
        .expect("payload inside");
    tampered[at] = b'V';
    assert!(matches!(
        verify(&key, &tampered),
        Err(Invalid::BadSignature(_))
    ));
}

#[test]
fn higher_sequences_replace_lower_and_equal_ones_must_agree() {
    let owner = Keypair::generate_ed25519();
    let (key, v1) = sign(&owner, "n", 1, b"one".to_vec());
    let (_, v2) = sign(&owner, "n", 2, b"two".to_vec());
    let (_, v2b) = sign(&owner, "n", 2, b"other".to_vec());
    let r1 = record(key.clone(), v1);
    let r2 = record(key.clone(), v2);
    assert_eq!(check_replace(&r1, None), Ok(()));
    assert_eq!(check_replace(&r2, Some(&r1)), Ok(()));
    assert_eq!(
        check_replace(&r1, Some(&r2)),
        Err(Conflict::Stale {
            held: 2,
            offered: 1
        })
    );
    assert_eq!(check_replace(&r2, Some(&r2)), Ok(()));
    assert_eq!(
        check_replace(&record(key, v2b), Some(&r2)),
        Err(Conflict::SameSequence(2))
    );
}
