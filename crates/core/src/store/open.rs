//! Opening the store file at start, and what to do when it is damaged.
//!
//! A file redb cannot open, one whose read fails or panics part way, and one with entries
//! that fail their checksum are *damaged*. With [`OnDamaged::Recover`] (the default) the
//! file is moved aside to `store.redb.damaged-<unix time>` (kept for inspection) and a new
//! file is written with every intact entry that could be read; with [`OnDamaged::Refuse`]
//! the node does not start. A zero-length file in a data dir that has been used before is
//! damage too (its records are gone), never silently a new store.

use std::path::{Path, PathBuf};

use web_time::{SystemTime, UNIX_EPOCH};

use super::{
    PersistenceError,
    disk::{DiskStore, Scan},
};

/// What to do with a damaged store file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnDamaged {
    /// Move it aside and start with the intact entries.
    #[default]
    Recover,
    /// Do not start.
    Refuse,
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file is damaged and the operator asked to refuse.
    #[error(
        "the record store {path} is damaged: {what}; not starting (--on-damaged-store refuse). Move the file away, or start with --on-damaged-store recover to keep the intact entries"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// The file could not be moved aside.
    #[error("the record store {path} is damaged ({what}) and could not be moved aside: {source}")]
    MoveAside {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not damage: the database is locked, or cannot be created.
    #[error(transparent)]
    Persistence(#[from] PersistenceError),
}

/// An opened store file and what opening it found.
#[derive(Debug)]
pub struct Opened {
    /// The database, clean (as found, or rewritten with what was recovered).
    pub store: DiskStore,
    /// Damaged entries skipped.
    pub damaged_entries: usize,
    /// Where a damaged file was moved, if it was.
    pub moved_to: Option<PathBuf>,
}

/// Opens the store at `path`. `dir_is_new`: the data dir was created by this start, so an
/// empty store is expected.
///
/// A damaged page can make redb panic; the panic is caught and reported as damage, and
/// while the store is opened the default panic hook, which would print the panic as if
/// the node had crashed, is replaced by a debug log line.
pub fn open_store(path: &Path, dir_is_new: bool, policy: OnDamaged) -> Result<Opened, OpenError> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        tracing::debug!(%info, "panic inside the record database (caught)");
    }));
    let result = open_checked(path, dir_is_new, policy);
    std::panic::set_hook(previous);
    result
}

fn open_checked(path: &Path, dir_is_new: bool, policy: OnDamaged) -> Result<Opened, OpenError> {
    let empty = std::fs::metadata(path).is_ok_and(|m| m.len() == 0);
    if empty && !dir_is_new {
        let what = "the file is empty (zero length) although the data dir has been used \
                    before: its records are lost"
            .to_owned();
        return recover(path, policy, what, Scan::default());
    }
    let store = match DiskStore::open(path) {
        Ok(store) => store,
        Err(error @ (PersistenceError::InUse | PersistenceError::DiskFull)) => {
            return Err(error.into());
        }
        Err(error) => {
            let mut what = format!("the database cannot be opened ({error})");
            let scan = match DiskStore::salvage(path) {
                Some(scan) => {
                    what.push_str(&format!(
                        "; read-only, {} records and {} damaged entries could be read",
                        scan.records.len(),
                        scan.damaged.len()
                    ));
                    scan
                }
                None => Scan::default(),
            };
            return recover(path, policy, what, scan);
        }
    };
    let scan = store.scan();
    if scan.is_clean() {
        return Ok(Opened {
            store,
            damaged_entries: 0,
            moved_to: None,
        });
    }
    drop(store);
    for entry in &scan.damaged {
        tracing::warn!(entry = %entry, "damaged stored entry: not loaded");
    }
    let mut what = format!(
        "{} damaged entries (checksum or decoding failed)",
        scan.damaged.len()
    );
    if let Some(stopped) = &scan.stopped {
        what.push_str(&format!(
            "; reading stopped after {} records: {stopped}",
            scan.records.len()
        ));
    }
    recover(path, policy, what, scan)
}

fn recover(path: &Path, policy: OnDamaged, what: String, scan: Scan) -> Result<Opened, OpenError> {
    if policy == OnDamaged::Refuse {
        tracing::error!(path = %path.display(), %what, "the record store is damaged");
        return Err(OpenError::Damaged {
            path: path.to_owned(),
            what,
        });
    }
    let aside = aside_path(path);
    std::fs::rename(path, &aside).map_err(|source| OpenError::MoveAside {
        path: path.to_owned(),
        what: what.clone(),
        source,
    })?;
    let store = DiskStore::open(path)?;
    store.write_all(&scan.records, &scan.providers)?;
    tracing::error!(
        path = %path.display(),
        moved_to = %aside.display(),
        %what,
        recovered_records = scan.records.len(),
        recovered_provider_records = scan.providers.len(),
        "the record store was damaged: moved aside, starting with the intact entries"
    );
    Ok(Opened {
        store,
        damaged_entries: scan.damaged.len(),
        moved_to: Some(aside),
    })
}

/// `store.redb.damaged-<unix seconds>`, with a counter if that exists already.
fn aside_path(path: &Path) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "store.redb".to_owned());
    let mut candidate = path.with_file_name(format!("{name}.damaged-{secs}"));
    let mut n = 1;
    while candidate.exists() {
        candidate = path.with_file_name(format!("{name}.damaged-{secs}-{n}"));
        n += 1;
    }
    candidate
}
