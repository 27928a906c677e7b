//! Why the store refused a write, in words a user can act on and as a metrics label.

use libp2p::{PeerId, kad::RecordKey};

/// What kind of entry a write was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A record (PUT_VALUE).
    Record,
    /// A provider record (ADD_PROVIDER).
    Provider,
}

impl EntryKind {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Record => "record",
            Self::Provider => "provider",
        }
    }
}

/// Why the store refused a write. Nothing refused is in memory or on disk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefusalCause {
    /// `max_records` keys are held and the key is new.
    #[error("the record store is full ({limit} records)")]
    StoreFull {
        /// The configured limit.
        limit: usize,
    },
    /// This node provides `max_provided_keys` keys already.
    #[error("this node provides the most keys it may ({limit})")]
    ProvidedKeysFull {
        /// The configured limit.
        limit: usize,
    },
    /// The value is over the limit.
    #[error("the value is {size} bytes; the limit is {limit} bytes")]
    ValueTooLarge {
        /// The value's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The key is over the limit.
    #[error("the key is {size} bytes; the limit is {limit} bytes")]
    KeyTooLarge {
        /// The key's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The durable backend ran out of space.
    #[error("the disk is full")]
    DiskFull,
    /// The durable backend failed otherwise.
    #[error("the record database failed: {0}")]
    Database(String),
    /// A record under the signed prefix that its owner did not sign (or that names no
    /// owner): a forgery, a tampered value, a plain value under a signed key.
    #[error("{0}")]
    BadSignature(String),
    /// A signed record older than the copy held (a replay).
    #[error("sequence {offered} is older than the {held} held")]
    StaleSequence {
        /// The sequence number held.
        held: u64,
        /// The one offered.
        offered: u64,
    },
    /// A signed record with the sequence number held but another value.
    #[error("sequence {0} is held with another value")]
    SequenceConflict(u64),
}

impl From<crate::signed::Conflict> for RefusalCause {
    fn from(conflict: crate::signed::Conflict) -> Self {
        use crate::signed::Conflict;
        match conflict {
            Conflict::Invalid(invalid) => Self::BadSignature(invalid.to_string()),
            Conflict::Stale { held, offered } => Self::StaleSequence { held, offered },
            Conflict::SameSequence(seq) => Self::SequenceConflict(seq),
        }
    }
}

impl RefusalCause {
    /// The `reason` label of `webkad_records_rejected_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::StoreFull { .. } | Self::ProvidedKeysFull { .. } => "store_full",
            Self::ValueTooLarge { .. } => "value_too_large",
            Self::KeyTooLarge { .. } => "key_too_large",
            Self::DiskFull => "disk_full",
            Self::Database(_) => "database_error",
            Self::BadSignature(_) => "bad_signature",
            Self::StaleSequence { .. } => "stale_sequence",
            Self::SequenceConflict(_) => "sequence_conflict",
        }
    }

    /// The nearest error kad's `RecordStore` interface can carry (it has three).
    pub fn to_kad(&self) -> libp2p::kad::store::Error {
        use libp2p::kad::store::Error;
        match self {
            // Any error makes kad reset the stream; the nearest word for "not this value".
            Self::ValueTooLarge { .. }
            | Self::KeyTooLarge { .. }
            | Self::BadSignature(_)
            | Self::StaleSequence { .. }
            | Self::SequenceConflict(_) => Error::ValueTooLarge,
            Self::ProvidedKeysFull { .. } => Error::MaxProvidedKeys,
            Self::StoreFull { .. } | Self::DiskFull | Self::Database(_) => Error::MaxRecords,
        }
    }
}

/// One write the store handled, kept until the event loop reads it: kad's `RecordStore`
/// can only say `MaxRecords` or `ValueTooLarge`, and with kad storing inbound records
/// itself, this is how the loop learns the real cause and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Record or provider record.
    pub kind: EntryKind,
    /// The key written.
    pub key: RecordKey,
    /// The provider, for a provider record.
    pub provider: Option<PeerId>,
    /// `Ok` when durable (and in memory), else why it was refused.
    pub result: Result<(), RefusalCause>,
}
