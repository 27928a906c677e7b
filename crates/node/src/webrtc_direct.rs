//! WebRTC-direct for the node, all of it our own (crates/webrtc-direct): the listener
//! (FIN_ACK, bounded attempts, no socket per attempt, v1 and v2 handshakes) for inbound
//! connections and the dialer (on ICE, DTLS and SCTP directly, free of webrtc-rs's
//! negotiated-channel race) for native dials.

use std::pin::Pin;
use std::task::{Context, Poll};

use libp2p::core::multiaddr::Multiaddr;
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::{Boxed, DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::{PeerId, Transport, identity::Keypair};
use webkad_core::WebRtcAttemptLimits;
use webkad_webrtc_direct::native::{Certificate, Config, Dialer, Limits, Listener};

use crate::webrtc_gate::GatedOutbound;

type Output = (PeerId, StreamMuxerBox);

/// The combined WebRTC-direct transport.
pub struct WebRtcDirect {
    inbound: Boxed<Output>,
    outbound: Boxed<Output>,
}

impl WebRtcDirect {
    /// Our listener and dialer, both with `certificate`.
    pub fn new(
        keypair: &Keypair,
        certificate: libp2p_webrtc::tokio::Certificate,
        attempts: WebRtcAttemptLimits,
    ) -> Self {
        let ours = Certificate::from_pem(&certificate.serialize_pem())
            .expect("libp2p-webrtc's PEM is webrtc-rs's PEM");
        let config = Config {
            keypair: keypair.clone(),
            certificate: ours.clone(),
            limits: Limits {
                max_pending: attempts.max_pending,
                max_pending_per_ip: attempts.max_pending_per_ip,
                handshake_timeout: attempts.handshake_timeout,
            },
        };
        // The gate stays for rust-libp2p's native dialer (libp2p-webrtc 0.10, in other Rust
        // nodes), which installs its data-channel handler only after noise (see
        // webrtc_gate.rs). Our page, our dialer and js-libp2p open a stream at once, which
        // opens the gate, so it costs them nothing.
        let inbound = Listener::new(config)
            .map(|(peer, conn), _| (peer, StreamMuxerBox::new(GatedOutbound::new(conn))))
            .boxed();
        let outbound = Dialer::new(keypair.clone(), ours)
            .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)))
            .boxed();
        Self { inbound, outbound }
    }
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
        self.inbound.listen_on(id, addr)
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.inbound.remove_listener(id)
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        self.outbound.dial(addr, opts)
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        Pin::new(&mut self.inbound).poll(cx)
    }
}
