//! The node's data directory: identity key, WebRTC certificate and record database.
//!
//! ```text
//! <data-dir>/identity.key     protobuf-encoded ed25519 keypair, mode 0600
//! <data-dir>/webrtc-cert.pem  the WebRTC-direct certificate (fixes the /certhash), mode 0600
//! <data-dir>/store.redb       Kademlia records and provider records
//! ```

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use libp2p::identity::Keypair;
use libp2p_webrtc::tokio::Certificate;

/// What went wrong with the data directory. Each names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// The directory cannot be created or used.
    #[error("cannot use data dir {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file cannot be read or written.
    #[error("cannot access {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The identity key file does not hold a key.
    #[error("{path} is not a valid identity key ({reason}); move it away to create a new identity")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// The certificate file does not hold a certificate.
    #[error("{path} is not a valid certificate ({reason}); move it away to create a new one")]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
}

/// The default data directory: `$XDG_DATA_HOME/webkad`, else `~/.local/share/webkad`,
/// else `./webkad-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("webkad");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/webkad"),
        None => PathBuf::from("webkad-data"),
    }
}

/// An opened data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    path: PathBuf,
    /// No identity key was there when it was opened: a first start.
    new: bool,
}

impl DataDir {
    /// Creates `path` if needed (mode 0700) and checks it is a usable directory.
    pub fn open(path: &Path) -> Result<Self, DataDirError> {
        let dir_error = |source| DataDirError::Dir {
            path: path.to_owned(),
            source,
        };
        fs::create_dir_all(path).map_err(dir_error)?;
        restrict(path, 0o700).map_err(dir_error)?;
        Ok(Self {
            path: path.to_owned(),
            new: !path.join("identity.key").exists(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this start is the directory's first (no identity key was there yet), so an
    /// empty record store is expected rather than a sign of lost records.
    pub fn is_new(&self) -> bool {
        self.new
    }

    /// The record database file.
    pub fn store_path(&self) -> PathBuf {
        self.path.join("store.redb")
    }

    /// The identity key, created on first use.
    pub fn identity(&self) -> Result<Keypair, DataDirError> {
        let path = self.path.join("identity.key");
        match read_if_exists(&path)? {
            Some(bytes) => {
                Keypair::from_protobuf_encoding(&bytes).map_err(|e| DataDirError::BadKey {
                    path: path.clone(),
                    reason: e.to_string(),
                })
            }
            None => {
                let key = Keypair::generate_ed25519();
                let bytes = key.to_protobuf_encoding().expect("ed25519 keys encode");
                write_private(&path, &bytes)?;
                tracing::info!(path = %path.display(), "created a new identity");
                Ok(key)
            }
        }
    }

    /// The WebRTC certificate, created on first use.
    pub fn certificate(&self) -> Result<Certificate, DataDirError> {
        let path = self.path.join("webrtc-cert.pem");
        match read_if_exists(&path)? {
            Some(bytes) => {
                let pem = String::from_utf8_lossy(&bytes);
                Certificate::from_pem(&pem).map_err(|e| DataDirError::BadCertificate {
                    path: path.clone(),
                    reason: e.to_string(),
                })
            }
            None => {
                let cert = new_certificate();
                write_private(&path, cert.serialize_pem().as_bytes())?;
                Ok(cert)
            }
        }
    }
}

/// A fresh WebRTC certificate.
pub fn new_certificate() -> Certificate {
    Certificate::generate(&mut rand::rng()).expect("certificate generation does not fail")
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, DataDirError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DataDirError::File {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes a secret file readable by its owner only, atomically (temp file + rename).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    let file_error = |source| DataDirError::File {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(file_error)?;
    file.write_all(bytes).map_err(file_error)?;
    file.sync_all().map_err(file_error)?;
    fs::rename(&tmp, path).map_err(file_error)?;
    restrict(path, 0o600).map_err(file_error)
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_certificate_are_stable_across_opens() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = DataDir::open(tmp.path()).expect("opens");
        let first = dir.identity().expect("creates").public().to_peer_id();
        let cert = dir.certificate().expect("creates").fingerprint();
        let again = DataDir::open(tmp.path()).expect("reopens");
        assert_eq!(
            again.identity().expect("reads").public().to_peer_id(),
            first
        );
        assert_eq!(again.certificate().expect("reads").fingerprint(), cert);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(tmp.path().join("identity.key"))
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_corrupt_key_is_a_clear_error_and_is_not_overwritten() {
        let tmp = tempfile::tempdir().expect("tempdir");
        fs::write(tmp.path().join("identity.key"), b"garbage").expect("writes");
        let err = DataDir::open(tmp.path())
            .expect("opens")
            .identity()
            .expect_err("refused");
        assert!(
            err.to_string().contains("not a valid identity key"),
            "{err}"
        );
        assert_eq!(
            fs::read(tmp.path().join("identity.key")).expect("kept"),
            b"garbage"
        );
    }
}
