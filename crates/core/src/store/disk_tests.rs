//! Tests of the redb backend and of opening damaged files.

use std::path::Path;

use libp2p::{
    PeerId,
    kad::{
        ProviderRecord, Record, RecordKey,
        store::{MemoryStoreConfig, RecordStore},
    },
};

use super::DiskStore;
use crate::store::{
    Store, StoreLimits,
    open::{OnDamaged, open_store},
};

fn limits() -> StoreLimits {
    StoreLimits {
        memory: MemoryStoreConfig::default(),
        max_key_bytes: 1024,
    }
}

fn open_store_at(dir: &Path, local: PeerId) -> Store {
    let disk = DiskStore::open(&dir.join("store.redb")).expect("opens");
    Store::with_backend(local, limits(), Box::new(disk)).expect("loads")
}

#[test]
fn records_and_providers_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let local = PeerId::random();
    let other = PeerId::random();
    {
        let mut store = open_store_at(dir.path(), local);
        store
            .put(Record::new(b"hello".to_vec(), b"world".to_vec()))
            .expect("put");
        store
            .put(Record::new(b"gone".to_vec(), b"soon".to_vec()))
            .expect("put");
        store.remove(&RecordKey::new(b"gone"));
        let mut provided = ProviderRecord::new(b"file".to_vec(), local, vec![]);
        provided.addresses = vec!["/ip4/127.0.0.1/tcp/4001".parse().expect("addr")];
        store.add_provider(provided).expect("provide");
        store
            .add_provider(ProviderRecord::new(b"file".to_vec(), other, vec![]))
            .expect("provide");
    }
    let store = open_store_at(dir.path(), local);
    let record = store.get(&RecordKey::new(b"hello")).expect("kept");
    assert_eq!(record.value, b"world");
    assert!(store.get(&RecordKey::new(b"gone")).is_none());
    assert_eq!(store.providers(&RecordKey::new(b"file")).len(), 2);
    assert_eq!(
        store.provided().count(),
        1,
        "our own provider record is ours again"
    );
    assert_eq!(store.stats().provider_records, 2);
    assert_eq!(store.stats().records, 1);
}

#[test]
fn a_second_open_of_the_same_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = DiskStore::open(&dir.path().join("store.redb")).expect("opens");
    let second = DiskStore::open(&dir.path().join("store.redb")).expect_err("locked");
    assert!(second.to_string().contains("in use"), "{second}");
}

/// Writes `n` records with values that are easy to find in the file.
fn write_records(path: &Path, n: usize) {
    let mut store = Store::with_backend(
        PeerId::random(),
        limits(),
        Box::new(DiskStore::open(path).expect("opens")),
    )
    .expect("loads");
    for i in 0..n {
        let value = format!("value-{i:04}-{}", "v".repeat(40)).into_bytes();
        store
            .put(Record::new(format!("key-{i:04}").into_bytes(), value))
            .expect("put");
    }
}

#[test]
fn flipped_value_bytes_are_detected_and_the_rest_recovered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.redb");
    write_records(&path, 300);
    let mut bytes = std::fs::read(&path).expect("read");
    // Damage the value of key-0042 only, wherever its live copy is.
    let needle = b"value-0042-";
    let mut hits = 0;
    for i in 0..bytes.len() - needle.len() {
        if &bytes[i..i + needle.len()] == needle {
            bytes[i + 11] ^= 0x55;
            hits += 1;
        }
    }
    assert!(hits > 0, "value not found in the file");
    std::fs::write(&path, &bytes).expect("write");

    let opened = open_store(&path, false, OnDamaged::Recover).expect("recovers");
    assert!(opened.damaged_entries >= 1, "{opened:?}");
    let aside = opened.moved_to.clone().expect("moved aside");
    assert!(aside.to_string_lossy().contains("store.redb.damaged-"));
    let store =
        Store::with_backend(PeerId::random(), limits(), Box::new(opened.store)).expect("loads");
    assert!(store.get(&RecordKey::new(b"key-0042")).is_none());
    assert_eq!(store.stats().records, 299);
    for i in (0..300).filter(|i| *i != 42) {
        let record = store
            .get(&RecordKey::new(&format!("key-{i:04}")))
            .expect("intact");
        assert!(
            record
                .value
                .starts_with(format!("value-{i:04}-").as_bytes())
        );
    }
}

#[test]
fn refuse_policy_refuses_a_damaged_file_and_leaves_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.redb");
    write_records(&path, 50);
    let len = std::fs::metadata(&path).expect("meta").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    file.set_len(len / 3).expect("truncate");
    drop(file);
    let error = open_store(&path, false, OnDamaged::Refuse).expect_err("refused");
    assert!(error.to_string().contains("damaged"), "{error}");
    assert_eq!(std::fs::metadata(&path).expect("kept").len(), len / 3);
}

#[test]
fn an_empty_file_in_a_used_dir_is_reported_not_new() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.redb");
    std::fs::write(&path, b"").expect("write");
    let error = open_store(&path, false, OnDamaged::Refuse).expect_err("refused");
    assert!(error.to_string().contains("zero length"), "{error}");
    let opened = open_store(&path, false, OnDamaged::Recover).expect("recovers");
    assert!(opened.moved_to.is_some());
    // In a new data dir an empty file is just new.
    let fresh = tempfile::tempdir().expect("tempdir");
    std::fs::write(fresh.path().join("store.redb"), b"").expect("write");
    let opened =
        open_store(&fresh.path().join("store.redb"), true, OnDamaged::Refuse).expect("new");
    assert!(opened.moved_to.is_none());
}

#[test]
fn every_4k_block_flipped_never_panics_nor_serves_damage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.redb");
    write_records(&path, 300);
    let pristine = std::fs::read(&path).expect("read");
    for start in (0..pristine.len()).step_by(4096) {
        let mut bytes = pristine.clone();
        let end = (start + 4096).min(bytes.len());
        for b in &mut bytes[start..end] {
            *b ^= 0xff;
        }
        std::fs::write(&path, &bytes).expect("write");
        for entry in std::fs::read_dir(dir.path()).expect("dir").flatten() {
            if entry.file_name() != "store.redb" {
                std::fs::remove_file(entry.path()).expect("rm");
            }
        }
        let Ok(opened) = open_store(&path, false, OnDamaged::Recover) else {
            continue;
        };
        let Ok(store) = Store::with_backend(PeerId::random(), limits(), Box::new(opened.store))
        else {
            continue;
        };
        for record in store.records() {
            let key = String::from_utf8_lossy(record.key.as_ref()).into_owned();
            let i = key.trim_start_matches("key-");
            let expected = format!("value-{i}-{}", "v".repeat(40));
            assert_eq!(record.value, expected.as_bytes(), "block at {start}");
        }
    }
}
