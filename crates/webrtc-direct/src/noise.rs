//! The noise prologue that binds the noise handshake to the DTLS certificates on both ends.
//!
//! `prologue = "libp2p-webrtc-noise:" || multihash(fingerprint of A) || multihash(fingerprint of B)`
//! where A is the dialer (the browser, noise responder) and B the listener (noise initiator).

use libp2p::core::UpgradeInfo;
use libp2p::core::upgrade::InboundConnectionUpgrade;
use libp2p::identity::{Keypair, PeerId};

use crate::channel::DataChannel;
use crate::stream::Streams;

/// Multihash code of sha2-256.
const SHA256_CODE: u8 = 0x12;

/// A sha-256 certificate fingerprint, as in an SDP `a=fingerprint:sha-256` line or a
/// `/certhash` multiaddr component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The multihash bytes: code, length, digest.
    pub fn to_multihash(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(34);
        out.push(SHA256_CODE);
        out.push(32);
        out.extend_from_slice(&self.0);
        out
    }

    /// Reads a sha-256 multihash; `None` for any other hash or length.
    pub fn from_multihash(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [SHA256_CODE, 32, digest @ ..] => Some(Self(digest.try_into().ok()?)),
            _ => None,
        }
    }

    /// Parses the SDP form `AB:CD:...` (32 colon-separated hex bytes).
    pub fn from_sdp(text: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        let mut parts = text.trim().split(':');
        for byte in &mut out {
            *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
        }
        parts.next().is_none().then_some(Self(out))
    }

    /// The SDP form, upper-case hex bytes joined by colons.
    pub fn to_sdp(self) -> String {
        let hex: Vec<String> = self.0.iter().map(|byte| format!("{byte:02X}")).collect();
        hex.join(":")
    }
}

/// The prologue both sides feed to noise; `dialer` is A, `listener` is B.
pub fn prologue(dialer: Fingerprint, listener: Fingerprint) -> Vec<u8> {
    const PREFIX: &[u8] = b"libp2p-webrtc-noise:";
    let mut out = Vec::with_capacity(PREFIX.len() + 68);
    out.extend_from_slice(PREFIX);
    out.extend_from_slice(&dialer.to_multihash());
    out.extend_from_slice(&listener.to_multihash());
    out
}

/// The dialer's side of the handshake on the noise channel: noise as the responder (the
/// listener can send first after DTLS) with the [`prologue`] of `local` (our certificate) and
/// `certhash` (the listener's), then the channel closed the spec's way (FIN, not a reset).
/// Answers the listener's identity.
pub(crate) async fn dialer_handshake<C>(
    streams: &Streams<C>,
    channel: C,
    keypair: &Keypair,
    local: Fingerprint,
    certhash: Fingerprint,
) -> Result<PeerId, libp2p::noise::Error>
where
    C: DataChannel + Send + 'static,
{
    let stream = streams.wrap(channel);
    let noise = libp2p::noise::Config::new(keypair)?.with_prologue(prologue(local, certhash));
    let info = noise
        .protocol_info()
        .next()
        .expect("noise has one protocol name");
    let (peer, mut output) = noise.upgrade_inbound(stream, info).await?;
    futures::AsyncWriteExt::close(&mut output)
        .await
        .map_err(libp2p::noise::Error::from)?;
    Ok(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn fingerprint(text: &str) -> Fingerprint {
        Fingerprint(hex(text).try_into().expect("32 bytes"))
    }

    #[test]
    fn matches_the_test_vector_of_the_spec() {
        let client =
            fingerprint("3e79af40d6059617a0d83b83a52ce73b0c1f37a72c6043ad2969e2351bdca870");
        let server =
            fingerprint("30fc9f469c207419dfdd0aab5f27a86c973c94e40548db9375cca2e915973b99");
        assert_eq!(
            prologue(client, server),
            hex(
                "6c69627032702d7765627274632d6e6f6973653a12203e79af40d6059617a0d83b83a52ce73b0c1f37a72c6043ad2969e2351bdca870122030fc9f469c207419dfdd0aab5f27a86c973c94e40548db9375cca2e915973b99"
            )
        );
    }

    #[test]
    fn sdp_and_multihash_forms_roundtrip_and_reject_garbage() {
        let print = Fingerprint([0xab; 32]);
        assert_eq!(Fingerprint::from_sdp(&print.to_sdp()), Some(print));
        assert_eq!(
            Fingerprint::from_multihash(&print.to_multihash()),
            Some(print)
        );
        assert_eq!(Fingerprint::from_sdp("AB:CD"), None);
        assert_eq!(
            Fingerprint::from_sdp(&format!("{}:00", print.to_sdp())),
            None
        );
        assert_eq!(Fingerprint::from_multihash(&[0x13, 32]), None);
    }
}
