//! The Kademlia record store: kad's in-memory store as the index every query reads,
//! written through to a durable backend when the node has one.
//!
//! Reads never touch the disk: `get`, `providers` and the republishing jobs read the
//! [`MemoryStore`]. A write is checked against the limits, committed to the [`Persistence`]
//! backend, and only then applied to the memory index; a write the backend refuses (disk
//! full, database error) is refused as a whole, so memory and disk never disagree and kad
//! answers the remote with an error instead of an acknowledgement. Each write's outcome,
//! with the real cause of a refusal, is kept for the event loop ([`Store::outcomes`]).
//! On start the backend's contents are loaded back. The native node uses
//! [`DiskStore`](disk::DiskStore) (redb); the browser node runs with no backend.

#[cfg(not(target_arch = "wasm32"))]
pub mod disk;
pub mod encoding;
#[cfg(not(target_arch = "wasm32"))]
pub mod open;
pub mod refusal;

use std::{
    borrow::Cow,
    collections::{HashSet, VecDeque},
};

use libp2p::{
    PeerId,
    kad::{
        ProviderRecord, Record, RecordKey,
        store::{self, MemoryStore, MemoryStoreConfig, RecordStore},
    },
};

pub use encoding::EncodingError;
pub use refusal::{EntryKind, RefusalCause, WriteOutcome};

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
    /// The file system has no space left for the write.
    #[error("the disk is full")]
    DiskFull,
    /// Another process holds the database's lock.
    #[error(
        "the record database is in use by another process (is another node running on this data dir?)"
    )]
    InUse,
    /// The database reported an error (I/O, corruption, a lock held elsewhere).
    #[error("record database: {0}")]
    Database(String),
    /// A stored entry could not be decoded.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
}

impl PersistenceError {
    fn cause(&self) -> RefusalCause {
        match self {
            Self::DiskFull => RefusalCause::DiskFull,
            Self::InUse => RefusalCause::Database(self.to_string()),
            Self::Database(message) => RefusalCause::Database(message.clone()),
            Self::Encoding(error) => RefusalCause::Database(error.to_string()),
        }
    }
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
    /// Writes to the durable backend that failed since start (each one refused).
    pub persistence_failures: u64,
    /// Key and value bytes of the records held.
    pub bytes: u64,
    /// Damaged entries found (and skipped) when the store was opened.
    pub damaged_at_load: u64,
}

/// The store's limits: kad's memory-store limits plus the key size.
#[derive(Debug, Clone)]
pub struct StoreLimits {
    /// Records, value size (exclusive, as kad counts it), providers.
    pub memory: MemoryStoreConfig,
    /// The largest key accepted, in bytes.
    pub max_key_bytes: usize,
}

/// How many write outcomes wait for the event loop at most (the oldest are dropped).
const MAX_OUTCOMES: usize = 4096;

/// webkad's record store: a [`MemoryStore`] index behind an optional durable backend.
pub struct Store {
    memory: MemoryStore,
    limits: StoreLimits,
    /// Records held (the memory store does not count them).
    record_count: usize,
    /// Keys with at least one provider record (the memory store does not expose them).
    provider_keys: HashSet<RecordKey>,
    backend: Option<Box<dyn Persistence>>,
    persistence_failures: u64,
    damaged_at_load: u64,
    outcomes: VecDeque<WriteOutcome>,
}

impl Store {
    /// A store that keeps everything in memory only.
    pub fn in_memory(local_id: PeerId, limits: StoreLimits) -> Self {
        Self {
            memory: MemoryStore::with_config(local_id, limits.memory.clone()),
            limits,
            record_count: 0,
            provider_keys: HashSet::new(),
            backend: None,
            persistence_failures: 0,
            damaged_at_load: 0,
            outcomes: VecDeque::new(),
        }
    }

    /// A store backed by `backend`, loaded with what the backend holds.
    ///
    /// Entries beyond the limits (say, after the limits were lowered) are skipped with a
    /// warning; they stay in the backend untouched.
    pub fn with_backend(
        local_id: PeerId,
        limits: StoreLimits,
        backend: Box<dyn Persistence>,
    ) -> Result<Self, PersistenceError> {
        let (records, providers) = backend.load()?;
        let mut store = Self::in_memory(local_id, limits);
        for record in records {
            let key = record.key.clone();
            if let Err(cause) = store.check_record(&record) {
                tracing::warn!(%cause, key = %show_key(&key), "stored record skipped at load");
                continue;
            }
            match store.memory.put(record) {
                Ok(()) => store.record_count += 1,
                Err(error) => tracing::warn!(%error, "stored record skipped at load"),
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
            records: self.record_count,
            provider_records: self
                .provider_keys
                .iter()
                .map(|key| self.memory.providers(key).len())
                .sum(),
            provided_keys: self.memory.provided().count(),
            persistence_failures: self.persistence_failures,
            damaged_at_load: self.damaged_at_load,
            bytes: self
                .memory
                .records()
                .map(|r| (r.key.as_ref().len() + r.value.len()) as u64)
                .sum(),
        }
    }

    /// Records how many damaged entries opening the backend skipped (for the stats).
    pub fn set_damaged_at_load(&mut self, count: u64) {
        self.damaged_at_load = count;
    }

    /// The outcomes of the writes since the event loop last took them, oldest first.
    pub fn outcomes(&mut self) -> &mut VecDeque<WriteOutcome> {
        &mut self.outcomes
    }

    fn note(
        &mut self,
        kind: EntryKind,
        key: RecordKey,
        provider: Option<PeerId>,
        result: Result<(), RefusalCause>,
    ) {
        if self.outcomes.len() >= MAX_OUTCOMES {
            self.outcomes.pop_front();
        }
        self.outcomes.push_back(WriteOutcome {
            kind,
            key,
            provider,
            result,
        });
    }

    /// The limits a record must meet, checked before anything is written.
    fn check_record(&self, record: &Record) -> Result<(), RefusalCause> {
        let key_size = record.key.as_ref().len();
        if key_size > self.limits.max_key_bytes {
            return Err(RefusalCause::KeyTooLarge {
                size: key_size,
                limit: self.limits.max_key_bytes,
            });
        }
        // kad's limit is exclusive: values of `max_value_bytes` or more are refused.
        let value_limit = self.limits.memory.max_value_bytes;
        if record.value.len() >= value_limit {
            return Err(RefusalCause::ValueTooLarge {
                size: record.value.len(),
                limit: value_limit.saturating_sub(1),
            });
        }
        Ok(())
    }

    fn try_put(&mut self, record: &Record) -> Result<(), RefusalCause> {
        self.check_record(record)?;
        let previous = self.memory.get(&record.key).map(Cow::into_owned);
        // Owner-signed keys: only the owner's signature, and only a newer sequence.
        crate::signed::check_replace(record, previous.as_ref())?;
        if previous.is_none() && self.record_count >= self.limits.memory.max_records {
            return Err(RefusalCause::StoreFull {
                limit: self.limits.memory.max_records,
            });
        }
        self.persist("put record", |b| b.put_record(record))?;
        if let Err(error) = self.memory.put(record.clone()) {
            // Not expected after the checks above; undo the disk write so both agree.
            let _ = self.persist("undo put record", |b| match &previous {
                Some(old) => b.put_record(old),
                None => b.remove_record(&record.key),
            });
            return Err(RefusalCause::Database(error.to_string()));
        }
        if previous.is_none() {
            self.record_count += 1;
        }
        Ok(())
    }

    fn try_add_provider(&mut self, record: &ProviderRecord) -> Result<(), RefusalCause> {
        let key_size = record.key.as_ref().len();
        if key_size > self.limits.max_key_bytes {
            return Err(RefusalCause::KeyTooLarge {
                size: key_size,
                limit: self.limits.max_key_bytes,
            });
        }
        let before = self.memory.providers(&record.key);
        let previous = before
            .iter()
            .find(|p| p.provider == record.provider)
            .cloned();
        if previous.is_none() {
            if before.is_empty() && self.provider_keys.len() >= self.limits.memory.max_provided_keys
            {
                return Err(RefusalCause::ProvidedKeysFull {
                    limit: self.limits.memory.max_provided_keys,
                });
            }
            // A full list keeps the providers it has (kad's defence against Sybil floods):
            // nothing is written, as kad's own store does.
            if before.len() >= self.limits.memory.max_providers_per_key {
                return Ok(());
            }
        }
        self.persist("add provider", |b| b.put_provider(record))?;
        if let Err(error) = self.memory.add_provider(record.clone()) {
            let _ = self.persist("undo add provider", |b| match &previous {
                Some(old) => b.put_provider(old),
                None => b.remove_provider(&record.key, &record.provider),
            });
            return Err(RefusalCause::Database(error.to_string()));
        }
        self.provider_keys.insert(record.key.clone());
        Ok(())
    }

    /// Runs one write against the backend (none: nothing to do); a failure is logged,
    /// counted and returned as the cause of the refusal.
    fn persist(
        &mut self,
        what: &str,
        write: impl FnOnce(&mut dyn Persistence) -> Result<(), PersistenceError>,
    ) -> Result<(), RefusalCause> {
        let Some(backend) = self.backend.as_deref_mut() else {
            return Ok(());
        };
        write(backend).map_err(|error| {
            self.persistence_failures += 1;
            tracing::error!(%error, what, "record store write failed; refused");
            error.cause()
        })
    }
}

/// A key for logs: its text when it is UTF-8, else hex.
pub fn show_key(key: &RecordKey) -> String {
    match std::str::from_utf8(key.as_ref()) {
        Ok(text) => format!("{text:?}"),
        Err(_) => key.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
    }
}

impl RecordStore for Store {
    type RecordsIter<'a> = <MemoryStore as RecordStore>::RecordsIter<'a>;
    type ProvidedIter<'a> = <MemoryStore as RecordStore>::ProvidedIter<'a>;

    fn get(&self, key: &RecordKey) -> Option<Cow<'_, Record>> {
        self.memory.get(key)
    }

    fn put(&mut self, record: Record) -> store::Result<()> {
        let result = self.try_put(&record);
        let error = result.as_ref().err().map(RefusalCause::to_kad);
        self.note(EntryKind::Record, record.key, None, result);
        error.map_or(Ok(()), Err)
    }

    fn remove(&mut self, key: &RecordKey) {
        if self.memory.get(key).is_none() {
            return;
        }
        // Disk first: a removal the disk refuses leaves the record in both places (an
        // expired record is not served either way).
        if self
            .persist("remove record", |b| b.remove_record(key))
            .is_ok()
        {
            self.memory.remove(key);
            self.record_count = self.record_count.saturating_sub(1);
        }
    }

    fn records(&self) -> Self::RecordsIter<'_> {
        self.memory.records()
    }

    fn add_provider(&mut self, record: ProviderRecord) -> store::Result<()> {
        let result = self.try_add_provider(&record);
        let error = result.as_ref().err().map(RefusalCause::to_kad);
        self.note(
            EntryKind::Provider,
            record.key,
            Some(record.provider),
            result,
        );
        error.map_or(Ok(()), Err)
    }

    fn providers(&self, key: &RecordKey) -> Vec<ProviderRecord> {
        self.memory.providers(key)
    }

    fn provided(&self) -> Self::ProvidedIter<'_> {
        self.memory.provided()
    }

    fn remove_provider(&mut self, key: &RecordKey, provider: &PeerId) {
        if self
            .persist("remove provider", |b| b.remove_provider(key, provider))
            .is_err()
        {
            return;
        }
        self.memory.remove_provider(key, provider);
        if self.memory.providers(key).is_empty() {
            self.provider_keys.remove(key);
        }
    }
}

#[cfg(test)]
mod tests;
