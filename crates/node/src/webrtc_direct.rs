//! WebRTC-direct for the node: our own listener (crates/webrtc-direct: FIN_ACK, bounded
//! attempts, no socket per attempt, v1 and v2 handshakes) for inbound connections, and
//! rust-libp2p's WebRTC transport for the one-shot client's native dials, hedged
//! against webrtc-rs's negotiated-channel race (`hedged_dial.rs`).
//!
//! libp2p-webrtc dials from the UDP socket of one of its own listeners, so every listen on
//! our listener also opens a hidden libp2p-webrtc listener on the same IP, port 0, whose
//! events are swallowed: it exists only to dial from.

use std::collections::HashSet;
use std::pin::Pin;
use std::task::{Context, Poll};

use libp2p::core::multiaddr::{Multiaddr, Protocol};
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::{Boxed, DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::{PeerId, Transport, identity::Keypair};
use webkad_core::WebRtcAttemptLimits;
use webkad_webrtc_direct::native::{Certificate, Config, Limits, Listener};

use crate::hedged_dial::{HEDGE_AFTER, hedged};
use crate::webrtc_gate::GatedOutbound;

type Output = (PeerId, StreamMuxerBox);

/// The combined WebRTC-direct transport.
pub struct WebRtcDirect {
    inbound: Boxed<Output>,
    outbound: Boxed<Output>,
    hidden: HashSet<ListenerId>,
}

impl WebRtcDirect {
    /// Our listener with `certificate`; native dials through libp2p-webrtc with the same one.
    pub fn new(
        keypair: &Keypair,
        certificate: libp2p_webrtc::tokio::Certificate,
        attempts: WebRtcAttemptLimits,
    ) -> Self {
        let ours = Certificate::from_pem(&certificate.serialize_pem())
            .expect("libp2p-webrtc's PEM is webrtc-rs's PEM");
        let config = Config {
            keypair: keypair.clone(),
            certificate: ours,
            limits: Limits {
                max_pending: attempts.max_pending,
                max_pending_per_ip: attempts.max_pending_per_ip,
                handshake_timeout: attempts.handshake_timeout,
            },
        };
        // The gate stays for rust-libp2p's native dialer (libp2p-webrtc 0.10: our one-shot
        // commands and other Rust nodes), which installs its data-channel handler only after
        // noise (see webrtc_gate.rs). Our page and js-libp2p open a stream at once, which
        // opens the gate, so it costs them nothing.
        let inbound = Listener::new(config)
            .map(|(peer, conn), _| (peer, StreamMuxerBox::new(GatedOutbound::new(conn))))
            .boxed();
        let outbound = libp2p_webrtc::tokio::Transport::new(keypair.clone(), certificate)
            .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)))
            .boxed();
        Self {
            inbound,
            outbound,
            hidden: HashSet::new(),
        }
    }
}

/// The same IP on port 0: a socket to dial from.
fn dial_socket(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .map(|part| match part {
            Protocol::Udp(_) => Protocol::Udp(0),
            other => other,
        })
        .collect()
}

impl Transport for WebRtcDirect {
    type Output = Output;
    type Error = std::io::Error;
    type ListenerUpgrade = <Boxed<Output> as Transport>::ListenerUpgrade;
    type Dial = <Boxed<Output> as Transport>::Dial;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        self.inbound.listen_on(id, addr.clone())?;
        let hidden = ListenerId::next();
        match self.outbound.listen_on(hidden, dial_socket(&addr)) {
            Ok(()) => {
                self.hidden.insert(hidden);
            }
            Err(error) => tracing::warn!(%error, "no socket for native WebRTC-direct dials"),
        }
        Ok(())
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.inbound.remove_listener(id)
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        // Both futures are lazy: the second costs nothing unless the first hangs.
        let first = self.outbound.dial(addr.clone(), opts)?;
        let second = self.outbound.dial(addr, opts)?;
        Ok(Box::pin(hedged(first, second, HEDGE_AFTER)))
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        if let Poll::Ready(event) = Pin::new(&mut self.inbound).poll(cx) {
            return Poll::Ready(event);
        }
        while let Poll::Ready(event) = Pin::new(&mut self.outbound).poll(cx) {
            match event {
                TransportEvent::Incoming { send_back_addr, .. } => {
                    tracing::debug!(%send_back_addr, "inbound on the dial-only socket refused");
                }
                TransportEvent::ListenerClosed { listener_id, .. } => {
                    self.hidden.remove(&listener_id);
                }
                _ => {}
            }
        }
        Poll::Pending
    }
}
