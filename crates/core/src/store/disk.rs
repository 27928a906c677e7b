//! The durable backend: one redb database file in the node's data directory.
//!
//! Why redb: it is an embedded, pure-Rust, ACID key-value store (copy-on-write B-trees,
//! crash-safe commits with no recovery log to replay), so a power cut loses at most the
//! write in flight and never corrupts what was committed. It needs no C toolchain, holds a
//! file lock so two nodes cannot share one data directory, and its per-write commit cost
//! (one fsync) is far below a DHT round trip. RocksDB would bring a C++ build; sled is
//! unmaintained; SQLite would be a C library for a key-value job.
//!
//! What redb does not do: verify its page checksums on reads (only a repair or
//! `check_integrity` does), so bytes flipped on disk are served as they are, and a damaged
//! page can make it panic. Hence each entry carries its own checksum
//! ([`encoding`](super::encoding)), every call into redb runs under `catch_unwind`
//! ([`guarded`]), and [`open`](super::open) decides what to do with a damaged file.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    path::Path,
};

use libp2p::{
    PeerId,
    kad::{ProviderRecord, Record, RecordKey},
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};

use super::{Persistence, PersistenceError, encoding, show_key};

/// record key -> checksummed record.
const RECORDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("records_v2");
/// (record key, provider peer id) -> checksummed provider record.
const PROVIDERS: TableDefinition<(&[u8], &[u8]), &[u8]> = TableDefinition::new("providers_v2");
/// The tables of stores written before entries had checksums; migrated on open.
const LEGACY_RECORDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("records");
const LEGACY_PROVIDERS: TableDefinition<(&[u8], &[u8]), &[u8]> = TableDefinition::new("providers");

/// Records and provider records in a redb database file.
pub struct DiskStore {
    /// `None` after a failed write whose reopen failed too: every write is refused.
    db: Option<Database>,
    path: std::path::PathBuf,
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore").finish_non_exhaustive()
    }
}

/// What a full read of the file found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Intact, unexpired records.
    pub records: Vec<Record>,
    /// Intact, unexpired provider records.
    pub providers: Vec<ProviderRecord>,
    /// Entries that failed their checksum or did not decode, as `what key: why`.
    pub damaged: Vec<String>,
    /// Why the read stopped before the end (a database error or a panic inside redb).
    pub stopped: Option<String>,
}

impl Scan {
    /// Whether anything was damaged or unreadable.
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty() && self.stopped.is_none()
    }
}

fn is_disk_full(error: &std::io::Error) -> bool {
    // ENOSPC, and EDQUOT for a quota.
    error.kind() == std::io::ErrorKind::StorageFull
        || error.kind() == std::io::ErrorKind::QuotaExceeded
        || matches!(error.raw_os_error(), Some(28 | 122))
}

pub(super) fn db_error(error: impl Into<redb::Error>) -> PersistenceError {
    let error: redb::Error = error.into();
    match error {
        redb::Error::DatabaseAlreadyOpen => PersistenceError::InUse,
        redb::Error::Io(io) if is_disk_full(&io) => PersistenceError::DiskFull,
        other => PersistenceError::Database(other.to_string()),
    }
}

/// Runs `f` and turns a panic inside redb into an error (a damaged page can make redb
/// panic; a node must refuse the write or the file, not die).
pub(super) fn guarded<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, PersistenceError>,
) -> Result<T, PersistenceError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "no message".to_owned());
        Err(PersistenceError::Database(format!(
            "the database panicked during {what} (a damaged file?): {message}"
        )))
    })
}

impl DiskStore {
    /// Opens (or creates) the database at `path`, migrating a store written before
    /// entries had checksums. It does not read the entries: see [`DiskStore::scan`].
    pub fn open(path: &Path) -> Result<Self, PersistenceError> {
        guarded("open", || {
            let db = Database::create(path).map_err(db_error)?;
            let txn = db.begin_write().map_err(db_error)?;
            migrate_legacy(&txn)?;
            txn.open_table(RECORDS).map_err(db_error)?;
            txn.open_table(PROVIDERS).map_err(db_error)?;
            txn.commit().map_err(db_error)?;
            Ok(Self {
                db: Some(db),
                path: path.to_owned(),
            })
        })
    }

    fn db(&self) -> Result<&Database, PersistenceError> {
        self.db.as_ref().ok_or_else(|| {
            PersistenceError::Database(
                "the database could not be reopened after a failed write; restart the node"
                    .to_owned(),
            )
        })
    }

    /// After a failed write: redb refuses every write after an I/O error until the file is
    /// reopened, and a commit that reported an error (a full disk) may have landed all the
    /// same. So reopen, and read back whether the change is there: if it is, it is durable
    /// (a restart would load it) and the write counts as done; if not, it is refused.
    /// Either way memory and disk agree.
    fn settle(
        &mut self,
        error: PersistenceError,
        landed: impl FnOnce(&redb::ReadTransaction) -> Result<bool, redb::Error>,
    ) -> Result<(), PersistenceError> {
        self.db = None;
        let reopened = guarded("reopen", || Database::create(&self.path).map_err(db_error));
        match reopened {
            Ok(db) => self.db = Some(db),
            Err(reopen) => {
                tracing::error!(%error, %reopen, "record database could not be reopened");
                return Err(error);
            }
        }
        let check = guarded("read back", || {
            let txn = self.db()?.begin_read().map_err(db_error)?;
            landed(&txn).map_err(db_error)
        });
        if check.is_ok_and(|landed| landed) {
            tracing::warn!(%error, "a write reported an error but is on disk; counted as done");
            return Ok(());
        }
        Err(error)
    }

    /// Reads every entry, checking each one's checksum. Damaged entries are listed, not
    /// returned; a read that fails or panics part way keeps what it read before.
    pub fn scan(&self) -> Scan {
        let mut scan = Scan::default();
        let result = guarded("load", || {
            let txn = self.db()?.begin_read().map_err(db_error)?;
            scan_into(&txn, &mut scan)
        });
        if let Err(error) = result {
            scan.stopped = Some(error.to_string());
        }
        scan
    }

    /// What can still be read from a file redb cannot open for writing (a damaged
    /// allocator or system page makes the open panic): opened read-only, without repair.
    /// `None` when even that fails.
    pub fn salvage(path: &Path) -> Option<Scan> {
        let db = guarded("read-only open", || {
            redb::ReadOnlyDatabase::open(path).map_err(db_error)
        })
        .ok()?;
        let mut scan = Scan::default();
        let result = guarded("salvage", || {
            let txn = db.begin_read().map_err(db_error)?;
            scan_into(&txn, &mut scan)
        });
        if let Err(error) = result {
            scan.stopped = Some(error.to_string());
        }
        Some(scan)
    }
}

/// Reads every entry of `txn` into `scan`, checking each one's checksum.
fn scan_into(txn: &redb::ReadTransaction, scan: &mut Scan) -> Result<(), PersistenceError> {
    for entry in txn
        .open_table(RECORDS)
        .map_err(db_error)?
        .iter()
        .map_err(db_error)?
    {
        let (key, value) = entry.map_err(db_error)?;
        match encoding::decode_record(key.value(), value.value()) {
            Ok(Some(record)) => scan.records.push(record),
            Ok(None) => {}
            Err(error) => scan.damaged.push(format!(
                "record {}: {error}",
                show_key(&RecordKey::new(&key.value()))
            )),
        }
    }
    for entry in txn
        .open_table(PROVIDERS)
        .map_err(db_error)?
        .iter()
        .map_err(db_error)?
    {
        let (key, value) = entry.map_err(db_error)?;
        let (record_key, provider) = key.value();
        match encoding::decode_provider(record_key, provider, value.value()) {
            Ok(Some(record)) => scan.providers.push(record),
            Ok(None) => {}
            Err(error) => scan.damaged.push(format!(
                "provider record {}: {error}",
                show_key(&RecordKey::new(&record_key))
            )),
        }
    }
    Ok(())
}

impl DiskStore {
    /// Writes recovered entries into this (new) file in one transaction.
    pub fn write_all(
        &self,
        records: &[Record],
        providers: &[ProviderRecord],
    ) -> Result<(), PersistenceError> {
        self.write("recovery", |txn| {
            let mut table = txn.open_table(RECORDS)?;
            for record in records {
                let bytes = encoding::encode_record(record);
                table.insert(record.key.as_ref(), bytes.as_slice())?;
            }
            let mut table = txn.open_table(PROVIDERS)?;
            for record in providers {
                let bytes = encoding::encode_provider(record);
                let provider = record.provider.to_bytes();
                table.insert((record.key.as_ref(), provider.as_slice()), bytes.as_slice())?;
            }
            Ok(())
        })
    }

    fn write(
        &self,
        what: &str,
        change: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<(), PersistenceError> {
        guarded(what, || {
            let txn = self.db()?.begin_write().map_err(db_error)?;
            change(&txn).map_err(db_error)?;
            txn.commit().map_err(db_error)
        })
    }
}

/// Moves the entries of pre-checksum tables into the checksummed ones, then drops them.
fn migrate_legacy(txn: &redb::WriteTransaction) -> Result<(), PersistenceError> {
    let names: Vec<String> = txn
        .list_tables()
        .map_err(db_error)?
        .map(|t| t.name().to_owned())
        .collect();
    if names.iter().any(|n| n == LEGACY_RECORDS.name()) {
        let legacy = txn.open_table(LEGACY_RECORDS).map_err(db_error)?;
        let mut records = txn.open_table(RECORDS).map_err(db_error)?;
        for entry in legacy.iter().map_err(db_error)? {
            let (key, value) = entry.map_err(db_error)?;
            if let Ok(Some(record)) = encoding::decode_legacy_record(key.value(), value.value()) {
                let bytes = encoding::encode_record(&record);
                records
                    .insert(key.value(), bytes.as_slice())
                    .map_err(db_error)?;
            }
        }
        drop((legacy, records));
        txn.delete_table(LEGACY_RECORDS).map_err(db_error)?;
        tracing::info!("record store migrated to checksummed entries");
    }
    if names.iter().any(|n| n == LEGACY_PROVIDERS.name()) {
        let legacy = txn.open_table(LEGACY_PROVIDERS).map_err(db_error)?;
        let mut providers = txn.open_table(PROVIDERS).map_err(db_error)?;
        for entry in legacy.iter().map_err(db_error)? {
            let (key, value) = entry.map_err(db_error)?;
            let (record_key, provider) = key.value();
            if let Ok(Some(record)) =
                encoding::decode_legacy_provider(record_key, provider, value.value())
            {
                let bytes = encoding::encode_provider(&record);
                providers
                    .insert((record_key, provider), bytes.as_slice())
                    .map_err(db_error)?;
            }
        }
        drop((legacy, providers));
        txn.delete_table(LEGACY_PROVIDERS).map_err(db_error)?;
    }
    Ok(())
}

impl Persistence for DiskStore {
    fn put_record(&mut self, record: &Record) -> Result<(), PersistenceError> {
        let bytes = encoding::encode_record(record);
        let key = record.key.as_ref();
        let result = self.write("put record", |txn| {
            txn.open_table(RECORDS)?.insert(key, bytes.as_slice())?;
            Ok(())
        });
        result.or_else(|error| {
            self.settle(error, |txn| {
                let table = txn.open_table(RECORDS)?;
                Ok(table
                    .get(key)?
                    .is_some_and(|v| v.value() == bytes.as_slice()))
            })
        })
    }

    fn remove_record(&mut self, key: &RecordKey) -> Result<(), PersistenceError> {
        let key = key.as_ref();
        let result = self.write("remove record", |txn| {
            txn.open_table(RECORDS)?.remove(key)?;
            Ok(())
        });
        result.or_else(|error| {
            self.settle(error, |txn| {
                Ok(txn.open_table(RECORDS)?.get(key)?.is_none())
            })
        })
    }

    fn put_provider(&mut self, record: &ProviderRecord) -> Result<(), PersistenceError> {
        let bytes = encoding::encode_provider(record);
        let provider = record.provider.to_bytes();
        let key = (record.key.as_ref(), provider.as_slice());
        let result = self.write("add provider", |txn| {
            txn.open_table(PROVIDERS)?.insert(key, bytes.as_slice())?;
            Ok(())
        });
        result.or_else(|error| {
            self.settle(error, |txn| {
                let table = txn.open_table(PROVIDERS)?;
                Ok(table
                    .get(key)?
                    .is_some_and(|v| v.value() == bytes.as_slice()))
            })
        })
    }

    fn remove_provider(
        &mut self,
        key: &RecordKey,
        provider: &PeerId,
    ) -> Result<(), PersistenceError> {
        let provider = provider.to_bytes();
        let key = (key.as_ref(), provider.as_slice());
        let result = self.write("remove provider", |txn| {
            txn.open_table(PROVIDERS)?.remove(key)?;
            Ok(())
        });
        result.or_else(|error| {
            self.settle(error, |txn| {
                Ok(txn.open_table(PROVIDERS)?.get(key)?.is_none())
            })
        })
    }

    fn load(&self) -> Result<(Vec<Record>, Vec<ProviderRecord>), PersistenceError> {
        let scan = self.scan();
        for damaged in &scan.damaged {
            tracing::warn!(entry = %damaged, "skipped a damaged stored entry");
        }
        if let Some(stopped) = scan.stopped {
            return Err(PersistenceError::Database(stopped));
        }
        Ok((scan.records, scan.providers))
    }
}

#[cfg(test)]
#[path = "disk_tests.rs"]
mod tests;
