//! The page's WebRTC-direct connection as a libp2p `StreamMuxer`, and the dial-only
//! `Transport` around the handshake.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::FutureExt;
use libp2p::core::multiaddr::Multiaddr;
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};
use libp2p::core::transport::{DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::identity::{Keypair, PeerId};
use send_wrapper::SendWrapper;
use web_sys::RtcPeerConnection;

use super::channel::WebChannel;
use super::dialer::{self, DialError, Hooks};
use super::liveness::Liveness;
use crate::credentials::Version;
use crate::stream::{Stream, Streams};

type Opening = Pin<Box<dyn Future<Output = Result<WebChannel, DialError>>>>;

struct Inner {
    pc: RtcPeerConnection,
    hooks: Hooks,
    opening: Option<Opening>,
    liveness: Liveness,
}

/// An established connection from the page.
pub struct Connection {
    inner: SendWrapper<Inner>,
    streams: Streams<WebChannel>,
}

impl Connection {
    fn gone(&self, cx: &mut Context<'_>) -> bool {
        let mut inbound = self.inner.hooks.inbound.borrow_mut();
        inbound.waker = Some(cx.waker().clone());
        inbound.gone
    }
}

impl StreamMuxer for Connection {
    type Substream = Stream<WebChannel>;
    type Error = DialError;

    fn poll_inbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let next = self.inner.hooks.inbound.borrow_mut().queue.pop_front();
        if let Some(channel) = next {
            return Poll::Ready(Ok(self.streams.wrap(WebChannel::new(channel))));
        }
        if self.gone(cx) {
            return Poll::Ready(Err(DialError::ChannelClosed));
        }
        Poll::Pending
    }

    fn poll_outbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        if self.gone(cx) {
            return Poll::Ready(Err(DialError::ChannelClosed));
        }
        let inner = &mut *self.inner;
        let pc = inner.pc.clone();
        let opening = inner.opening.get_or_insert_with(|| {
            async move {
                let raw = pc.create_data_channel("");
                let open = dialer::opened(raw.clone());
                let channel = WebChannel::new(raw);
                open.await?;
                Ok(channel)
            }
            .boxed_local()
        });
        let result = futures::ready!(opening.poll_unpin(cx));
        self.inner.opening = None;
        Poll::Ready(result.map(|channel| self.streams.wrap(channel)))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.pc.close();
        Poll::Ready(Ok(()))
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        self.streams.poll_closing(cx);
        let inner = &mut *self.inner;
        if inner.liveness.poll(&inner.pc, cx).is_ready() {
            tracing::debug!("WebRTC-direct: the remote fell silent; closing");
            dialer::mark_gone(&inner.hooks.inbound);
        }
        if self.gone(cx) {
            return Poll::Ready(Err(DialError::ChannelClosed));
        }
        Poll::Pending
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.inner.pc.close();
    }
}

/// Dials WebRTC-direct addresses from the page (listening is not possible in a browser).
pub struct Transport {
    keypair: Keypair,
    version: Version,
}

impl Transport {
    /// A dialer speaking the given handshake version (v2 needs no SDP munging).
    pub fn new(keypair: Keypair, version: Version) -> Self {
        Self { keypair, version }
    }
}

impl libp2p::core::Transport for Transport {
    type Output = (PeerId, Connection);
    type Error = DialError;
    type ListenerUpgrade = futures::future::Pending<Result<Self::Output, Self::Error>>;
    type Dial = Pin<Box<dyn Future<Output = Result<Self::Output, Self::Error>> + Send>>;

    fn listen_on(
        &mut self,
        _: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        Err(TransportError::MultiaddrNotSupported(addr))
    }

    fn remove_listener(&mut self, _: ListenerId) -> bool {
        false
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        _: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        let Some((server, certhash)) = crate::addr::dial_target(&addr) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        let (keypair, version) = (self.keypair.clone(), self.version);
        let dial = async move {
            let (peer, pc, hooks) = dialer::handshake(server, certhash, &keypair, version).await?;
            Ok((
                peer,
                Connection {
                    inner: SendWrapper::new(Inner {
                        pc,
                        hooks,
                        opening: None,
                        liveness: Liveness::new(),
                    }),
                    streams: Streams::dialer(),
                },
            ))
        };
        Ok(Box::pin(SendWrapper::new(dial)))
    }

    fn poll(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        Poll::Pending
    }
}
