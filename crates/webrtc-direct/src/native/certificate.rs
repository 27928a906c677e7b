//! The listener's DTLS certificate. Its sha-256 fingerprint is the `/certhash` of our
//! addresses, so `webkad serve` persists it (PEM, the format libp2p-webrtc wrote, so existing
//! data directories keep their certhash).

use webrtc::peer_connection::certificate::RTCCertificate;

use crate::noise::Fingerprint;

/// Why a certificate could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// Key or certificate generation failed.
    #[error("cannot generate a WebRTC certificate: {0}")]
    Generate(String),
    /// The PEM text is not a certificate with its key.
    #[error("not a WebRTC certificate PEM: {0}")]
    Pem(String),
}

/// A DTLS certificate with its private key.
#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    inner: RTCCertificate,
}

impl Certificate {
    /// A fresh ECDSA P-256 certificate.
    pub fn generate() -> Result<Self, CertificateError> {
        let key = rcgen::KeyPair::generate()
            .map_err(|error| CertificateError::Generate(error.to_string()))?;
        let inner = RTCCertificate::from_key_pair(key)
            .map_err(|error| CertificateError::Generate(error.to_string()))?;
        Ok(Self { inner })
    }

    /// Reads what [`Certificate::to_pem`] wrote.
    pub fn from_pem(pem: &str) -> Result<Self, CertificateError> {
        let inner = RTCCertificate::from_pem(pem)
            .map_err(|error| CertificateError::Pem(error.to_string()))?;
        Ok(Self { inner })
    }

    /// PEM text of the key and certificate.
    pub fn to_pem(&self) -> String {
        self.inner.serialize_pem()
    }

    /// The sha-256 fingerprint (the certhash).
    pub fn fingerprint(&self) -> Fingerprint {
        self.inner
            .get_fingerprints()
            .iter()
            .find(|print| print.algorithm == "sha-256")
            .and_then(|print| Fingerprint::from_sdp(&print.value))
            .expect("webrtc-rs always computes a sha-256 fingerprint")
    }

    /// The certificate for a DTLS connection of our own: [`Certificate::to_pem`] less its
    /// leading `EXPIRES` block (webrtc-rs keeps the DTLS half private).
    pub(crate) fn dtls(&self) -> webrtc::dtls::crypto::Certificate {
        let pem = self.to_pem();
        let end = "-----END EXPIRES-----";
        let rest = pem
            .find(end)
            .map_or(pem.as_str(), |at| &pem[at + end.len()..]);
        webrtc::dtls::crypto::Certificate::from_pem(rest.trim_start())
            .expect("webrtc-rs reads back the PEM it wrote")
    }

    /// The certificate and its PKCS#8 key as our DTLS server (dimpl) takes them.
    pub(crate) fn dimpl(&self) -> dimpl::DtlsCertificate {
        let dtls = self.dtls();
        dimpl::DtlsCertificate {
            certificate: dtls.certificate[0].to_vec(),
            private_key: dtls.private_key.serialized_der,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_survives_a_pem_roundtrip() {
        let certificate = Certificate::generate().expect("generate");
        let again = Certificate::from_pem(&certificate.to_pem()).expect("read back");
        assert_eq!(again.fingerprint(), certificate.fingerprint());
        assert!(Certificate::from_pem("not pem").is_err());
        // The DTLS half is the same certificate.
        let der = certificate.dtls().certificate[0].to_vec();
        assert_eq!(crate::native::sha256(&der), certificate.fingerprint().0);
    }
}
