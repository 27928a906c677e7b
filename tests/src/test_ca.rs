//! A throwaway certificate authority for the TLS tests, and a client that trusts it.

use std::{path::Path, sync::Arc};

use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, CertifiedKey, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};

/// A CA that signs `localhost` / `127.0.0.1` server certificates.
pub struct TestCa {
    ca: CertifiedKey,
}

/// A server certificate, its chain and key as PEM, and its SPKI hash.
pub struct Leaf {
    /// The certificate (DER).
    pub der: CertificateDer<'static>,
    /// The leaf then the CA, PEM (a `fullchain.pem`).
    pub fullchain_pem: String,
    /// The private key, PEM (a `privkey.pem`).
    pub key_pem: String,
    /// base64 of the SHA-256 of the key's SubjectPublicKeyInfo: what Chromium's
    /// `--ignore-certificate-errors-spki-list` takes.
    pub spki_sha256: String,
}

impl TestCa {
    /// A new CA with a fresh key.
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "webkad test CA");
        let cert = params.self_signed(&key).expect("CA certificate");
        Self {
            ca: CertifiedKey {
                cert,
                key_pair: key,
            },
        }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.ca.cert.pem()
    }

    /// A new server certificate for localhost and 127.0.0.1, with a fresh key.
    pub fn leaf(&self, name: &str) -> Leaf {
        let key = KeyPair::generate().expect("leaf key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("leaf params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params
            .signed_by(&key, &self.ca.cert, &self.ca.key_pair)
            .expect("leaf certificate");
        let spki = ring::digest::digest(&ring::digest::SHA256, &key.public_key_der());
        Leaf {
            der: cert.der().clone(),
            fullchain_pem: format!("{}{}", cert.pem(), self.ca.cert.pem()),
            key_pem: key.serialize_pem(),
            spki_sha256: base64::engine::general_purpose::STANDARD.encode(spki.as_ref()),
        }
    }

    /// A rustls client configuration that trusts only this CA.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca.cert.der().clone())
            .expect("CA certificate is valid");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    /// Connects to `addr` over TLS (verifying the server as 127.0.0.1 against this CA).
    pub async fn connect(
        &self,
        addr: &str,
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .expect("tcp connect");
        let name = ServerName::try_from("127.0.0.1").expect("ip name");
        tokio_rustls::TlsConnector::from(self.client_config())
            .connect(name, tcp)
            .await
            .expect("TLS handshake with the test CA's certificate")
    }

    /// The certificate the server at `addr` presents now.
    pub async fn served_leaf(&self, addr: &str) -> CertificateDer<'static> {
        let stream = self.connect(addr).await;
        stream
            .get_ref()
            .1
            .peer_certificates()
            .expect("a certificate")[0]
            .clone()
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl Leaf {
    /// A rustls server configuration that presents this certificate (for a test's own TLS
    /// proxy in front of a node).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::{PrivateKeyDer, pem::PemObject};
        let chain = CertificateDer::pem_slice_iter(self.fullchain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("chain PEM");
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).expect("key PEM");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .expect("certificate and key match"),
        )
    }

    /// Writes `fullchain.pem` and `privkey.pem` into `dir` (each replaced in one rename,
    /// as certbot does through its symlinks, so the node never reads half a file).
    pub fn write(&self, dir: &Path) {
        for (name, text) in [
            ("privkey.pem", &self.key_pem),
            ("fullchain.pem", &self.fullchain_pem),
        ] {
            let tmp = dir.join(format!("{name}.new"));
            std::fs::write(&tmp, text).expect("write pem");
            std::fs::rename(&tmp, dir.join(name)).expect("rename pem");
        }
    }
}
