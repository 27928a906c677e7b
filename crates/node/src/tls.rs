//! The operator's TLS certificate for HTTPS and WSS, re-read after a renewal without a
//! restart.
//!
//! [`CertStore`] holds the certificate chain and key loaded from PEM files (the Let's
//! Encrypt layout: `fullchain.pem` and `privkey.pem`) and answers every TLS handshake with
//! the current pair through rustls' [`ResolvesServerCert`], so a renewal takes effect on
//! the next handshake while open connections (and the pages on them) stay as they are.
//! [`watch`] re-reads the files on SIGHUP and when their modification time changes; a
//! pair that does not load (a half-written renewal, a key that does not match) is logged
//! and the previous one kept.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use rustls::{
    ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};

/// Why a certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read or holds no PEM item of the expected kind.
    #[error("cannot load {what} from {path}: {reason}")]
    Load {
        /// "the certificate chain" or "the private key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key does not fit the certificate, or is of a kind rustls cannot sign with.
    #[error("the key in {key} does not go with the certificate in {cert}: {reason}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        reason: String,
    },
}

/// The certificate files and the pair loaded from them.
#[derive(Debug)]
pub struct CertStore {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    modified: Option<SystemTime>,
}

impl CertStore {
    /// Loads the chain from `cert` and the key from `key` (PEM).
    pub fn open(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsError> {
        let loaded = load(cert, key)?;
        Ok(Arc::new(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: RwLock::new(loaded),
        }))
    }

    /// Re-reads the files; keeps the previous pair when the new one does not load.
    /// Returns whether a new pair is in use.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let loaded = load(&self.cert, &self.key)?;
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let changed = current.key.cert != loaded.key.cert;
        *current = loaded;
        Ok(changed)
    }

    /// Whether the files changed since they were last loaded.
    fn files_changed(&self) -> bool {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        modified(&self.cert, &self.key) != current.modified
    }

    /// The current end-entity certificate (DER).
    pub fn leaf(&self) -> CertificateDer<'static> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current.key.cert[0].clone()
    }

    /// A rustls server configuration that answers with the current pair; `alpn` lists the
    /// protocols offered (`http/1.1` for HTTPS, none for WSS).
    pub fn server_config(self: &Arc<Self>, alpn: &[&[u8]]) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        Some(current.key.clone())
    }
}

fn modified(cert: &Path, key: &Path) -> Option<SystemTime> {
    let time = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    time(cert).max(time(key))
}

fn load(cert: &Path, key: &Path) -> Result<Loaded, TlsError> {
    let modified = modified(cert, key);
    let load_error = |what, path: &Path, reason: String| TlsError::Load {
        what,
        path: path.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| load_error("the certificate chain", cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(load_error(
            "the certificate chain",
            cert,
            "no CERTIFICATE in the file".into(),
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| load_error("the private key", key, e.to_string()))?;
    let provider = rustls::crypto::ring::default_provider();
    let certified =
        CertifiedKey::from_der(chain, private, &provider).map_err(|e| TlsError::Mismatch {
            cert: cert.to_owned(),
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(Loaded {
        key: Arc::new(certified),
        modified,
    })
}

/// The certificates of a CA file (PEM), to trust when dialing `/tls/ws`.
pub fn load_ca(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let error = |reason: String| TlsError::Load {
        what: "the trusted CA",
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| error(e.to_string()))?;
    if certs.is_empty() {
        return Err(error("no CERTIFICATE in the file".into()));
    }
    Ok(certs)
}

/// How often the files' modification time is checked.
pub const POLL: Duration = Duration::from_secs(5);

/// Re-reads the certificate on SIGHUP and when the files change; runs until the process
/// ends.
pub async fn watch(store: Arc<CertStore>) {
    let mut hangup = hangups();
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let asked = tokio::select! {
            _ = poll.tick() => false,
            Some(()) = next_hangup(&mut hangup) => true,
        };
        if !asked && !store.files_changed() {
            continue;
        }
        match store.reload() {
            Ok(true) => tracing::info!(cert = %store.cert.display(), "TLS certificate reloaded"),
            Ok(false) => tracing::debug!("TLS certificate unchanged"),
            Err(error) => {
                tracing::warn!(%error, "TLS certificate not reloaded; keeping the previous one")
            }
        }
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

#[cfg(unix)]
fn hangups() -> Hangups {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}
#[cfg(not(unix))]
fn hangups() -> Hangups {}

/// The next SIGHUP; never, where there are none.
async fn next_hangup(hangups: &mut Hangups) -> Option<()> {
    #[cfg(unix)]
    if let Some(signal) = hangups.as_mut() {
        return signal.recv().await;
    }
    let _ = hangups;
    std::future::pending().await
}
