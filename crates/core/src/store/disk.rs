//! The durable backend: one redb database file in the node's data directory.
//!
//! Why redb: it is an embedded, pure-Rust, ACID key-value store (copy-on-write B-trees,
//! checksummed pages, crash-safe commits with no recovery log to replay), so a power cut
//! loses at most the write in flight and never corrupts what was committed. It needs no C
//! toolchain, holds a file lock so two nodes cannot share one data directory, and its
//! per-write commit cost (one fsync) is far below a DHT round trip. RocksDB would bring a
//! C++ build; sled is unmaintained; SQLite would be a C library for a key-value job.

use std::path::Path;

use libp2p::{
    PeerId,
    kad::{ProviderRecord, Record, RecordKey},
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{Persistence, PersistenceError, encoding};

/// record key -> encoded record.
const RECORDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("records");
/// (record key, provider peer id) -> encoded provider record.
const PROVIDERS: TableDefinition<(&[u8], &[u8]), &[u8]> = TableDefinition::new("providers");

/// Records and provider records in a redb database file.
pub struct DiskStore {
    db: Database,
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore").finish_non_exhaustive()
    }
}

fn db_error(error: impl Into<redb::Error>) -> PersistenceError {
    let error: redb::Error = error.into();
    match error {
        redb::Error::DatabaseAlreadyOpen => PersistenceError::Database(
            "the database is in use by another process (is another node running on this data dir?)"
                .to_owned(),
        ),
        other => PersistenceError::Database(other.to_string()),
    }
}

impl DiskStore {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, PersistenceError> {
        let db = Database::create(path).map_err(db_error)?;
        let txn = db.begin_write().map_err(db_error)?;
        txn.open_table(RECORDS).map_err(db_error)?;
        txn.open_table(PROVIDERS).map_err(db_error)?;
        txn.commit().map_err(db_error)?;
        Ok(Self { db })
    }

    fn write(
        &self,
        change: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<(), PersistenceError> {
        let txn = self.db.begin_write().map_err(db_error)?;
        change(&txn).map_err(db_error)?;
        txn.commit().map_err(db_error)
    }
}

impl Persistence for DiskStore {
    fn put_record(&mut self, record: &Record) -> Result<(), PersistenceError> {
        let bytes = encoding::encode_record(record);
        self.write(|txn| {
            txn.open_table(RECORDS)?
                .insert(record.key.as_ref(), bytes.as_slice())?;
            Ok(())
        })
    }

    fn remove_record(&mut self, key: &RecordKey) -> Result<(), PersistenceError> {
        self.write(|txn| {
            txn.open_table(RECORDS)?.remove(key.as_ref())?;
            Ok(())
        })
    }

    fn put_provider(&mut self, record: &ProviderRecord) -> Result<(), PersistenceError> {
        let bytes = encoding::encode_provider(record);
        let provider = record.provider.to_bytes();
        self.write(|txn| {
            txn.open_table(PROVIDERS)?
                .insert((record.key.as_ref(), provider.as_slice()), bytes.as_slice())?;
            Ok(())
        })
    }

    fn remove_provider(
        &mut self,
        key: &RecordKey,
        provider: &PeerId,
    ) -> Result<(), PersistenceError> {
        let provider = provider.to_bytes();
        self.write(|txn| {
            txn.open_table(PROVIDERS)?
                .remove((key.as_ref(), provider.as_slice()))?;
            Ok(())
        })
    }

    fn load(&self) -> Result<(Vec<Record>, Vec<ProviderRecord>), PersistenceError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let mut records = Vec::new();
        for entry in txn
            .open_table(RECORDS)
            .map_err(db_error)?
            .iter()
            .map_err(db_error)?
        {
            let (key, value) = entry.map_err(db_error)?;
            match encoding::decode_record(key.value(), value.value()) {
                Ok(Some(record)) => records.push(record),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "skipping undecodable stored record"),
            }
        }
        let mut providers = Vec::new();
        for entry in txn
            .open_table(PROVIDERS)
            .map_err(db_error)?
            .iter()
            .map_err(db_error)?
        {
            let (key, value) = entry.map_err(db_error)?;
            let (record_key, provider) = key.value();
            match encoding::decode_provider(record_key, provider, value.value()) {
                Ok(Some(record)) => providers.push(record),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "skipping undecodable provider record"),
            }
        }
        Ok((records, providers))
    }
}

#[cfg(test)]
mod tests {
    use libp2p::kad::store::{MemoryStoreConfig, RecordStore};

    use super::*;
    use crate::store::Store;

    fn open_store(dir: &Path, local: PeerId) -> Store {
        let disk = DiskStore::open(&dir.join("store.redb")).expect("opens");
        Store::with_backend(local, MemoryStoreConfig::default(), Box::new(disk)).expect("loads")
    }

    #[test]
    fn records_and_providers_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let local = PeerId::random();
        let other = PeerId::random();
        {
            let mut store = open_store(dir.path(), local);
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
        let store = open_store(dir.path(), local);
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
    }

    #[test]
    fn a_second_open_of_the_same_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = DiskStore::open(&dir.path().join("store.redb")).expect("opens");
        let second = DiskStore::open(&dir.path().join("store.redb")).expect_err("locked");
        assert!(second.to_string().contains("in use"), "{second}");
    }
}
