//! The Kademlia record store: kad's in-memory store as the index every query reads,
//! written through to a durable backend when the node has one.
//!
//! Reads never touch the disk: `get`, `providers` and the republishing jobs read the
//! [`MemoryStore`]. Every change that the memory store accepts (its limits checked first, so
//! nothing over a limit is ever written) is then committed to the [`Persistence`] backend, and
//! on start the backend's contents are loaded back. The native node uses
//! [`DiskStore`](disk::DiskStore) (redb); the browser node runs with no backend.

#[cfg(not(target_arch = "wasm32"))]
pub mod disk;
pub mod encoding;

use std::{borrow::Cow, collections::HashSet};

use libp2p::{
    PeerId,
    kad::{
        ProviderRecord, Record, RecordKey,
        store::{self, MemoryStore, MemoryStoreConfig, RecordStore},
    },
};

pub use encoding::EncodingError;

/// A durable home for records and provider records.
///
/// Each call is one committed change; an implementation must have made it durable before it
/// returns `Ok`.
pub trait Persistence: Send {
    /// Writes (or overwrites) a record.
    fn put_record(&mut self, record: &Record) -> Result<(), PersistenceError>;
    /// Deletes the record under `key`, if any.
    fn remove_record(&mut self, key: &RecordKey) -> Result<(), PersistenceError>;
    /// Writes (or overwrites) a provider record.
    fn put_provider(&mut self, record: &ProviderRecord) -> Result<(), PersistenceError>;
    /// Deletes the provider record of `provider` for `key`, if any.
    fn remove_provider(
        &mut self,
        key: &RecordKey,
        provider: &PeerId,
    ) -> Result<(), PersistenceError>;
    /// Everything stored, for loading at start. Expired entries are left out.
    fn load(&self) -> Result<(Vec<Record>, Vec<ProviderRecord>), PersistenceError>;
}

/// Why the durable backend failed.
#[derive(Debug, thiserror::Error)]
pub enum PersistenceError {
    /// The database reported an error (I/O, corruption, a lock held elsewhere).
    #[error("record database: {0}")]
    Database(String),
    /// A stored entry could not be decoded.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
}

/// Counts of what the store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// Records stored (own and others').
    pub records: usize,
    /// Provider records stored (own and others').
    pub provider_records: usize,
    /// Keys this node provides itself.
    pub provided_keys: usize,
    /// Writes to the durable backend that failed since start.
    pub persistence_failures: u64,
    /// Key and value bytes of the records held.
    pub bytes: u64,
}

/// webkad's record store: a [`MemoryStore`] index written through to an optional backend.
pub struct Store {
    memory: MemoryStore,
    /// Keys with at least one provider record (the memory store does not expose them).
    provider_keys: HashSet<RecordKey>,
    backend: Option<Box<dyn Persistence>>,
    persistence_failures: u64,
}

impl Store {
    /// A store that keeps everything in memory only.
    pub fn in_memory(local_id: PeerId, limits: MemoryStoreConfig) -> Self {
        Self {
            memory: MemoryStore::with_config(local_id, limits),
            provider_keys: HashSet::new(),
            backend: None,
            persistence_failures: 0,
        }
    }

    /// A store backed by `backend`, loaded with what the backend holds.
    ///
    /// Entries beyond the limits (say, after the limits were lowered) are skipped with a
    /// warning; they stay in the backend untouched.
    pub fn with_backend(
        local_id: PeerId,
        limits: MemoryStoreConfig,
        backend: Box<dyn Persistence>,
    ) -> Result<Self, PersistenceError> {
        let (records, providers) = backend.load()?;
        let mut store = Self::in_memory(local_id, limits);
        for record in records {
            if let Err(error) = store.memory.put(record) {
                tracing::warn!(%error, "stored record skipped at load");
            }
        }
        for provider in providers {
            let key = provider.key.clone();
            match store.memory.add_provider(provider) {
                Ok(()) => _ = store.provider_keys.insert(key),
                Err(error) => tracing::warn!(%error, "stored provider record skipped at load"),
            }
        }
        store.backend = Some(backend);
        Ok(store)
    }

    /// Counts of what the store holds.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            records: self.memory.records().count(),
            provider_records: self
                .provider_keys
                .iter()
                .map(|key| self.memory.providers(key).len())
                .sum(),
            provided_keys: self.memory.provided().count(),
            persistence_failures: self.persistence_failures,
            bytes: self
                .memory
                .records()
                .map(|r| (r.key.as_ref().len() + r.value.len()) as u64)
                .sum(),
        }
    }

    /// Runs one write against the backend; a failure is logged and counted, and the
    /// in-memory copy keeps serving (the DHT republishes records, so the next write heals it).
    fn persist(
        &mut self,
        what: &str,
        write: impl FnOnce(&mut dyn Persistence) -> Result<(), PersistenceError>,
    ) {
        if let Some(backend) = self.backend.as_deref_mut()
            && let Err(error) = write(backend)
        {
            self.persistence_failures += 1;
            tracing::error!(%error, what, "record store write failed; kept in memory only");
        }
    }
}

impl RecordStore for Store {
    type RecordsIter<'a> = <MemoryStore as RecordStore>::RecordsIter<'a>;
    type ProvidedIter<'a> = <MemoryStore as RecordStore>::ProvidedIter<'a>;

    fn get(&self, key: &RecordKey) -> Option<Cow<'_, Record>> {
        self.memory.get(key)
    }

    fn put(&mut self, record: Record) -> store::Result<()> {
        self.memory.put(record.clone())?;
        self.persist("put record", |b| b.put_record(&record));
        Ok(())
    }

    fn remove(&mut self, key: &RecordKey) {
        self.memory.remove(key);
        self.persist("remove record", |b| b.remove_record(key));
    }

    fn records(&self) -> Self::RecordsIter<'_> {
        self.memory.records()
    }

    fn add_provider(&mut self, record: ProviderRecord) -> store::Result<()> {
        self.memory.add_provider(record.clone())?;
        // The memory store may have refused it silently (full and farther than all others);
        // persist only what it kept.
        if self
            .memory
            .providers(&record.key)
            .iter()
            .any(|p| p.provider == record.provider)
        {
            self.provider_keys.insert(record.key.clone());
            self.persist("add provider", |b| b.put_provider(&record));
        }
        Ok(())
    }

    fn providers(&self, key: &RecordKey) -> Vec<ProviderRecord> {
        self.memory.providers(key)
    }

    fn provided(&self) -> Self::ProvidedIter<'_> {
        self.memory.provided()
    }

    fn remove_provider(&mut self, key: &RecordKey, provider: &PeerId) {
        self.memory.remove_provider(key, provider);
        if self.memory.providers(key).is_empty() {
            self.provider_keys.remove(key);
        }
        self.persist("remove provider", |b| b.remove_provider(key, provider));
    }
}
