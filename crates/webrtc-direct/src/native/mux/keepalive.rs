//! Keepalives from the listener to its dialers, so that a page sees a dead node within
//! seconds (issue 14: a killed node noticed in under 3 s, without pings).
//!
//! A browser learns that its remote vanished only from its own ICE checks: Chromium checks a
//! stable pair every 2.5 s and turns `disconnected` once its checks went unanswered for
//! about 5 s, so a `kill -9` was noticed after about 6 s. An ICE-lite listener sends no checks
//! of its own. So this mux sends them: STUN Binding requests signed with the dialer's password
//! (which both handshake versions give us, see [`Credentials`]), as a controlled agent.
//! First [`ANNOUNCED_CHECKS`] of them at once, when the handshake completes: that surplus of
//! checks is how the page tells our listener from others ([`crate::liveness`]), and it
//! arrives before the page's first reading even when the node dies right after the join.
//! Then one whenever the dialer heard nothing from us for [`KEEPALIVE_IDLE`]. Any ICE agent
//! answers a valid check; the browser counts the request in its candidate-pair statistics,
//! which the page's watch reads. The answers carry our transaction-ID marker and are dropped
//! here: the agent did not send those requests.
//!
//! Cost: the announcement, then at most one check (152 bytes) and its answer (92 bytes) per
//! idle connection every [`KEEPALIVE_IDLE`]; none while the connection carries traffic
//! towards the dialer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use webrtc::ice::control::AttrControlled;
use webrtc::ice::priority::PriorityAttr;
use webrtc::stun::agent::TransactionId;
use webrtc::stun::attributes::ATTR_USERNAME;
use webrtc::stun::fingerprint::FINGERPRINT;
use webrtc::stun::integrity::MessageIntegrity;
use webrtc::stun::message::{BINDING_REQUEST, Message, Setter};
use webrtc::stun::textattrs::Username;

use crate::credentials::Credentials;
use crate::liveness::ANNOUNCED_CHECKS;
use crate::native::stun::is_stun;

/// A dialer that heard nothing from us for this long gets a keepalive. The page declares a
/// connection dead after 2 s without a packet ([`crate::liveness::SILENCE`]), so four
/// keepalives in a row must be lost before a live connection is closed.
pub const KEEPALIVE_IDLE: Duration = Duration::from_millis(500);

/// The first bytes of our keepalives' transaction IDs, to recognise their answers.
const MARKER: [u8; 4] = *b"wkKA";
/// Binding success and error responses.
const BINDING_RESPONSES: [u16; 2] = [0x0101, 0x0111];
/// PRIORITY of a host candidate (RFC 8445 5.1.2.1: type preference 126, local 65535, one
/// component), which is what our one candidate per address family is.
const HOST_PRIORITY: u32 = (126 << 24) | (65535 << 8) | 255;

struct Dialer {
    /// Our ufrag for this connection, to forget it with the connection.
    ufrag: String,
    /// `USERNAME` of a check to the dialer: `dialer_ufrag:our_ufrag`.
    username: String,
    /// The dialer's ICE password, which keys the check's MESSAGE-INTEGRITY.
    password: String,
    /// When we last sent the dialer anything.
    last_sent: Instant,
}

/// The established dialers and when we last sent each of them anything.
#[derive(Default)]
pub struct Keepalives {
    dialers: HashMap<SocketAddr, Dialer>,
}

impl Keepalives {
    /// The connection under our `ufrag`, with the dialer at `to`, is established at `now`;
    /// answers the announcing checks to send it at once.
    pub fn add(
        &mut self,
        to: SocketAddr,
        ufrag: &str,
        credentials: &Credentials,
        now: Instant,
    ) -> Vec<Vec<u8>> {
        let dialer = Dialer {
            ufrag: ufrag.to_owned(),
            username: format!("{}:{}", credentials.remote_ufrag, credentials.local),
            password: credentials.remote_pwd.clone(),
            last_sent: now,
        };
        let announcement = (0..ANNOUNCED_CHECKS)
            .filter_map(|_| check(&dialer.username, &dialer.password))
            .collect();
        self.dialers.insert(to, dialer);
        announcement
    }

    /// Forgets the connection under our `ufrag`.
    pub fn remove(&mut self, ufrag: &str) {
        self.dialers.retain(|_, dialer| dialer.ufrag != ufrag);
    }

    /// Something was sent to `to` at `now`.
    pub fn sent(&mut self, to: &SocketAddr, now: Instant) {
        if let Some(dialer) = self.dialers.get_mut(to) {
            dialer.last_sent = now;
        }
    }

    /// Dialers established now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.dialers.len()
    }

    /// The keepalives due at `now`, each marked as sent.
    pub fn due(&mut self, now: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
        self.dialers
            .iter_mut()
            .filter(|(_, dialer)| now.duration_since(dialer.last_sent) >= KEEPALIVE_IDLE)
            .filter_map(|(to, dialer)| {
                dialer.last_sent = now;
                let request = check(&dialer.username, &dialer.password)?;
                Some((*to, request))
            })
            .collect()
    }
}

/// A signed Binding request from the controlled agent, with our transaction-ID marker.
fn check(username: &str, password: &str) -> Option<Vec<u8>> {
    let mut transaction = TransactionId::new();
    transaction.0[..MARKER.len()].copy_from_slice(&MARKER);
    let mut tie_breaker = [0u8; 8];
    tie_breaker.copy_from_slice(&transaction.0[4..]);
    let setters: Vec<Box<dyn Setter>> = vec![
        Box::new(BINDING_REQUEST),
        Box::new(transaction),
        Box::new(Username::new(ATTR_USERNAME, username.to_owned())),
        Box::new(AttrControlled(u64::from_be_bytes(tie_breaker))),
        Box::new(PriorityAttr(HOST_PRIORITY)),
        Box::new(MessageIntegrity::new_short_term_integrity(
            password.to_owned(),
        )),
        Box::new(FINGERPRINT),
    ];
    let mut message = Message::new();
    message.build(&setters).ok()?;
    Some(message.raw)
}

/// True for an answer to one of our keepalives (which no agent waits for).
pub fn is_answer(datagram: &[u8]) -> bool {
    is_stun(datagram)
        && BINDING_RESPONSES.contains(&u16::from_be_bytes([datagram[0], datagram[1]]))
        && datagram[8..12] == MARKER
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v2 dialer at 127.0.0.1:5000, established now: the keepalives, its address, its
    /// credentials, when, and the announcement it got.
    fn established() -> (Keepalives, SocketAddr, Credentials, Instant, Vec<Vec<u8>>) {
        let mut keepalives = Keepalives::default();
        let to: SocketAddr = "127.0.0.1:5000".parse().expect("address");
        let pwd = "clientpasswordof22chars1";
        let credentials =
            Credentials::from_username(&format!("libp2p+webrtc+v2/{pwd}"), "cliU").expect("v2");
        let start = Instant::now();
        let announcement = keepalives.add(to, &credentials.local, &credentials, start);
        (keepalives, to, credentials, start, announcement)
    }

    #[test]
    fn a_dialer_gets_the_announcement_then_keepalives_signed_with_its_password() {
        let (mut keepalives, to, credentials, start, announcement) = established();
        assert_eq!(announcement.len(), usize::from(ANNOUNCED_CHECKS));
        assert!(
            keepalives.due(start + KEEPALIVE_IDLE / 2).is_empty(),
            "not idle yet"
        );
        let later = start + KEEPALIVE_IDLE;
        let due = keepalives.due(later);
        assert_eq!(due.len(), 1);
        assert!(keepalives.due(later).is_empty(), "marked as sent");
        let (target, raw) = &due[0];
        assert_eq!(target, &to);
        for raw in announcement.iter().chain([raw]) {
            let mut request = Message::new();
            request.unmarshal_binary(raw).expect("decodes");
            assert_eq!(request.typ, BINDING_REQUEST);
            let username = Username::get_from_as(&request, ATTR_USERNAME).expect("USERNAME");
            assert_eq!(
                username.to_string(),
                "cliU:libp2p+webrtc+v2/clientpasswordof22chars1"
            );
            MessageIntegrity::new_short_term_integrity(credentials.remote_pwd.clone())
                .check(&mut request)
                .expect("signed with the dialer's password");
            FINGERPRINT.check(&request).expect("fingerprint");
        }

        // Its answer is ours; the dialer's own checks and answers to the agent are not.
        let mut answer = raw.clone();
        answer[..2].copy_from_slice(&0x0101u16.to_be_bytes());
        assert!(is_answer(&answer));
        assert!(!is_answer(raw), "a request is not an answer");
        answer[8] ^= 1;
        assert!(!is_answer(&answer));
    }

    #[test]
    fn traffic_defers_the_keepalive_and_a_closed_connection_gets_none() {
        let (mut keepalives, to, credentials, start, _) = established();
        keepalives.sent(&to, start + KEEPALIVE_IDLE / 2);
        assert!(keepalives.due(start + KEEPALIVE_IDLE).is_empty());
        assert_eq!(keepalives.due(start + KEEPALIVE_IDLE * 3 / 2).len(), 1);
        keepalives.remove(&credentials.local);
        assert_eq!(keepalives.len(), 0);
        assert!(keepalives.due(start + 3 * KEEPALIVE_IDLE).is_empty());
    }
}
