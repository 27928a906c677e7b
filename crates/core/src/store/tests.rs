//! The store's write path: limits, refusals and the backend in step with memory.

use std::sync::{Arc, Mutex};

use libp2p::{
    PeerId,
    kad::{
        ProviderRecord, Record, RecordKey,
        store::{MemoryStoreConfig, RecordStore},
    },
};

use super::{Persistence, PersistenceError, RefusalCause, Store, StoreLimits};

/// A backend that keeps keys in a shared list and fails every write once told to.
#[derive(Clone, Default)]
struct Flaky {
    keys: Arc<Mutex<Vec<Vec<u8>>>>,
    full: Arc<Mutex<bool>>,
}

impl Flaky {
    fn check(&self) -> Result<(), PersistenceError> {
        if *self.full.lock().expect("lock") {
            Err(PersistenceError::DiskFull)
        } else {
            Ok(())
        }
    }
}

impl Persistence for Flaky {
    fn put_record(&mut self, record: &Record) -> Result<(), PersistenceError> {
        self.check()?;
        let mut keys = self.keys.lock().expect("lock");
        if !keys.contains(&record.key.to_vec()) {
            keys.push(record.key.to_vec());
        }
        Ok(())
    }
    fn remove_record(&mut self, key: &RecordKey) -> Result<(), PersistenceError> {
        self.check()?;
        self.keys
            .lock()
            .expect("lock")
            .retain(|k| k != &key.to_vec());
        Ok(())
    }
    fn put_provider(&mut self, _: &ProviderRecord) -> Result<(), PersistenceError> {
        self.check()
    }
    fn remove_provider(&mut self, _: &RecordKey, _: &PeerId) -> Result<(), PersistenceError> {
        self.check()
    }
    fn load(&self) -> Result<(Vec<Record>, Vec<ProviderRecord>), PersistenceError> {
        Ok((Vec::new(), Vec::new()))
    }
}

fn limits(max_records: usize) -> StoreLimits {
    StoreLimits {
        memory: MemoryStoreConfig {
            max_records,
            max_value_bytes: 101,
            ..MemoryStoreConfig::default()
        },
        max_key_bytes: 16,
    }
}

fn record(key: &str, value: &str) -> Record {
    Record::new(key.as_bytes().to_vec(), value.as_bytes().to_vec())
}

#[test]
fn a_failed_disk_write_is_refused_and_leaves_memory_as_it_was() {
    let backend = Flaky::default();
    let mut store =
        Store::with_backend(PeerId::random(), limits(100), Box::new(backend.clone())).expect("ok");
    store.put(record("a", "1")).expect("stored");
    *backend.full.lock().expect("lock") = true;
    assert!(store.put(record("b", "2")).is_err());
    assert!(store.put(record("a", "changed")).is_err());
    assert!(
        store.get(&RecordKey::new(b"b")).is_none(),
        "refused, not served"
    );
    assert_eq!(
        store.get(&RecordKey::new(b"a")).expect("kept").value,
        b"1",
        "the old value stays, as on disk"
    );
    let refusals: Vec<_> = store
        .outcomes()
        .drain(..)
        .filter_map(|o| o.result.err())
        .collect();
    assert_eq!(
        refusals,
        vec![RefusalCause::DiskFull, RefusalCause::DiskFull]
    );
    assert_eq!(store.stats().records, 1);
    assert_eq!(store.stats().persistence_failures, 2);
    assert_eq!(*backend.keys.lock().expect("lock"), vec![b"a".to_vec()]);
    // Removal that the disk refuses keeps the record in both places.
    store.remove(&RecordKey::new(b"a"));
    assert!(store.get(&RecordKey::new(b"a")).is_some());
}

#[test]
fn a_full_store_refuses_new_keys_with_the_limit_but_takes_overwrites() {
    let mut store = Store::in_memory(PeerId::random(), limits(2));
    store.put(record("a", "1")).expect("stored");
    store.put(record("b", "1")).expect("stored");
    assert!(store.put(record("c", "1")).is_err());
    store.put(record("a", "2")).expect("overwrite");
    let refusal = store
        .outcomes()
        .iter()
        .find_map(|o| o.result.clone().err())
        .expect("one refusal");
    assert_eq!(refusal.to_string(), "the record store is full (2 records)");
    assert_eq!(refusal.label(), "store_full");
    assert_eq!(store.stats().records, 2);
}

#[test]
fn oversized_keys_and_values_are_refused_with_their_sizes() {
    let mut store = Store::in_memory(PeerId::random(), limits(10));
    assert!(store.put(record(&"k".repeat(17), "v")).is_err());
    assert!(store.put(record("k", &"v".repeat(101))).is_err());
    store
        .put(record("k", &"v".repeat(100)))
        .expect("at the limit");
    let causes: Vec<String> = store
        .outcomes()
        .iter()
        .filter_map(|o| o.result.clone().err())
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        causes,
        vec![
            "the key is 17 bytes; the limit is 16 bytes",
            "the value is 101 bytes; the limit is 100 bytes"
        ]
    );
}
