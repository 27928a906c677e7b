//! The dialer's handshake in the page (in progress: not yet behind a libp2p `Transport`).
//!
//! Order matters: the `datachannel` and `connectionstatechange` handlers are installed on the
//! fresh `RTCPeerConnection`, before any description is set, so the listener's first streams
//! are queued from the first moment and a failed or closed connection is seen without pings.
//! v2 sets the browser's offer untouched (no SDP munging) and sends its password to the
//! listener inside the server ufrag; v1 munges the offer as older listeners expect.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Waker;

use futures::channel::oneshot;
use js_sys::{Object, Reflect};
use libp2p::identity::{Keypair, PeerId};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    RtcConfiguration, RtcDataChannel, RtcDataChannelEvent, RtcDataChannelInit, RtcPeerConnection,
    RtcPeerConnectionState, RtcSdpType, RtcSessionDescriptionInit,
};

use super::channel::WebChannel;
use crate::credentials::Version;
use crate::dialer_sdp;
use crate::noise::{self, Fingerprint};
use crate::stream::Streams;

/// Data channels the listener may open before the connection takes them.
const INBOUND_QUEUE: usize = 32;

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The browser refused a WebRTC call.
    #[error("WebRTC in the browser: {0}")]
    Js(String),
    /// A description lacked what the handshake needs.
    #[error("unexpected SDP: {0}")]
    Sdp(&'static str),
    /// The noise channel closed before opening.
    #[error("the handshake channel closed before it opened")]
    ChannelClosed,
    /// The noise handshake failed (wrong identity or certhash).
    #[error("noise handshake: {0}")]
    Noise(#[from] libp2p::noise::Error),
}

fn js(error: JsValue) -> DialError {
    DialError::Js(format!("{error:?}"))
}

/// What the page's connection keeps after the handshake: inbound channels and liveness.
#[derive(Default)]
pub(crate) struct Inbound {
    pub(crate) queue: VecDeque<RtcDataChannel>,
    pub(crate) gone: bool,
    pub(crate) waker: Option<Waker>,
}

/// The handlers, alive as long as the peer connection may call them: dropping the hooks
/// detaches them first (a closed connection's transports still report their last state
/// change, and a dropped closure would throw `closure invoked ... after being dropped`).
pub(crate) struct Hooks {
    pub(crate) inbound: Rc<RefCell<Inbound>>,
    pc: RtcPeerConnection,
    /// The SCTP and DTLS transports whose `onstatechange` is `_on_transport`.
    watched: Rc<RefCell<Vec<JsValue>>>,
    _on_channel: Closure<dyn FnMut(RtcDataChannelEvent)>,
    _on_state: Closure<dyn FnMut(web_sys::Event)>,
    _on_transport: Closure<dyn FnMut(web_sys::Event)>,
    on_pagehide: Closure<dyn FnMut()>,
}

impl Drop for Hooks {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            let handler = self.on_pagehide.as_ref().unchecked_ref();
            let _ = window.remove_event_listener_with_callback("pagehide", handler);
        }
        self.pc.set_ondatachannel(None);
        self.pc.set_onconnectionstatechange(None);
        for transport in self.watched.borrow().iter() {
            let _ = Reflect::set(transport, &"onstatechange".into(), &JsValue::NULL);
        }
    }
}

/// Marks the connection gone and wakes whoever waits on it.
pub(crate) fn mark_gone(inbound: &RefCell<Inbound>) {
    let mut inbound = inbound.borrow_mut();
    inbound.gone = true;
    if let Some(waker) = inbound.waker.take() {
        waker.wake();
    }
}

/// Watches the SCTP transport and the DTLS transport under it (`pc.sctp`, `.transport`):
/// the remote's SCTP ABORT or DTLS close_notify closes them at once, while the connection's
/// aggregate state waits for ICE to time out (about 6 s). Set once connected, when they
/// exist; web-sys has no bindings for them, hence `Reflect`.
/// The transports are kept in `watched`, so that [`Hooks`] can detach the handler again.
fn watch_transports(pc: &RtcPeerConnection, handler: &JsValue, watched: &RefCell<Vec<JsValue>>) {
    let Ok(sctp) = Reflect::get(pc, &"sctp".into()) else {
        return;
    };
    if sctp.is_null() || sctp.is_undefined() {
        return;
    }
    let dtls = Reflect::get(&sctp, &"transport".into()).ok();
    let mut watched = watched.borrow_mut();
    for transport in std::iter::once(sctp).chain(dtls) {
        if !transport.is_null() && !transport.is_undefined() {
            let _ = Reflect::set(&transport, &"onstatechange".into(), handler);
            watched.push(transport);
        }
    }
}

fn install(pc: &RtcPeerConnection) -> Hooks {
    let inbound = Rc::new(RefCell::new(Inbound::default()));
    let on_channel = {
        let inbound = inbound.clone();
        Closure::<dyn FnMut(RtcDataChannelEvent)>::new(move |event: RtcDataChannelEvent| {
            let mut inbound = inbound.borrow_mut();
            let channel = event.channel();
            if inbound.queue.len() >= INBOUND_QUEUE {
                channel.close();
                return;
            }
            inbound.queue.push_back(channel);
            if let Some(waker) = inbound.waker.take() {
                waker.wake();
            }
        })
    };
    let on_transport = {
        let inbound = inbound.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            let state = event
                .target()
                .and_then(|target| Reflect::get(&target, &"state".into()).ok())
                .and_then(|state| state.as_string());
            if matches!(state.as_deref(), Some("closed" | "failed")) {
                mark_gone(&inbound);
            }
        })
    };
    let watched = Rc::new(RefCell::new(Vec::new()));
    let on_state = {
        let (inbound, pc, watched) = (inbound.clone(), pc.clone(), watched.clone());
        let transport_handler: JsValue = on_transport.as_ref().clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |_| match pc.connection_state() {
            RtcPeerConnectionState::Connected => {
                watch_transports(&pc, &transport_handler, &watched)
            }
            RtcPeerConnectionState::Failed
            | RtcPeerConnectionState::Disconnected
            | RtcPeerConnectionState::Closed => mark_gone(&inbound),
            _ => {}
        })
    };
    // A page that goes away says so: a navigating or closing document does not close its
    // peer connections on the wire, and the listener would hold this one until ICE gave up.
    let on_pagehide = {
        let pc = pc.clone();
        Closure::<dyn FnMut()>::new(move || pc.close())
    };
    if let Some(window) = web_sys::window() {
        let handler = on_pagehide.as_ref().unchecked_ref();
        let _ = window.add_event_listener_with_callback("pagehide", handler);
    }
    pc.set_ondatachannel(Some(on_channel.as_ref().unchecked_ref()));
    pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
    Hooks {
        inbound,
        pc: pc.clone(),
        watched,
        _on_channel: on_channel,
        _on_state: on_state,
        _on_transport: on_transport,
        on_pagehide,
    }
}

/// A peer connection with a fresh ECDSA P-256 certificate (never reused across connections,
/// as the spec asks, so observers cannot link them).
async fn peer_connection() -> Result<RtcPeerConnection, DialError> {
    let algorithm = Object::new();
    Reflect::set(&algorithm, &"name".into(), &"ECDSA".into()).map_err(js)?;
    Reflect::set(&algorithm, &"namedCurve".into(), &"P-256".into()).map_err(js)?;
    let promise = RtcPeerConnection::generate_certificate_with_object(&algorithm).map_err(js)?;
    let certificate = JsFuture::from(promise).await.map_err(js)?;
    let config = RtcConfiguration::new();
    config.set_certificates(&js_sys::Array::of1(&certificate));
    RtcPeerConnection::new_with_configuration(&config).map_err(js)
}

/// The `open` and `close` listeners of [`opened`], removed when it resolves or is dropped
/// (an abandoned dial or stream open), so the channel never calls a dropped closure.
struct OpenListeners {
    channel: RtcDataChannel,
    on_open: Closure<dyn FnMut()>,
    on_close: Closure<dyn FnMut()>,
}

impl Drop for OpenListeners {
    fn drop(&mut self) {
        let (open, close) = (self.on_open.as_ref(), self.on_close.as_ref());
        let _ = self
            .channel
            .remove_event_listener_with_callback("open", open.unchecked_ref());
        let _ = self
            .channel
            .remove_event_listener_with_callback("close", close.unchecked_ref());
    }
}

/// Resolves when `channel` opens (or fails when it closes first). Uses event listeners, not
/// the `on*` slots, which the channel's [`WebChannel`] owns.
pub(crate) fn opened(
    channel: RtcDataChannel,
) -> impl std::future::Future<Output = Result<(), DialError>> {
    let (sender, receiver) = oneshot::channel::<bool>();
    let sender = Rc::new(RefCell::new(Some(sender)));
    let on_open = {
        let sender = sender.clone();
        Closure::<dyn FnMut()>::new(move || {
            if let Some(sender) = sender.borrow_mut().take() {
                let _ = sender.send(true);
            }
        })
    };
    let on_close = Closure::<dyn FnMut()>::new(move || {
        if let Some(sender) = sender.borrow_mut().take() {
            let _ = sender.send(false);
        }
    });
    let _ = channel.add_event_listener_with_callback("open", on_open.as_ref().unchecked_ref());
    let _ = channel.add_event_listener_with_callback("close", on_close.as_ref().unchecked_ref());
    let listeners = OpenListeners {
        channel,
        on_open,
        on_close,
    };
    async move {
        let open = receiver.await.unwrap_or(false);
        drop(listeners);
        if open {
            Ok(())
        } else {
            Err(DialError::ChannelClosed)
        }
    }
}

fn description(kind: RtcSdpType, sdp: &str) -> RtcSessionDescriptionInit {
    let init = RtcSessionDescriptionInit::new(kind);
    init.set_sdp(sdp);
    init
}

fn sdp_of(value: &JsValue) -> Result<String, DialError> {
    Reflect::get(value, &"sdp".into())
        .ok()
        .and_then(|sdp| sdp.as_string())
        .ok_or(DialError::Sdp("a description without sdp"))
}

/// A v1 ufrag suffix: 32 alphanumerics from `Math.random` (the v1 ufrag doubles as the ICE
/// password, which only guards the connectivity checks; DTLS and noise carry the security).
fn random_suffix() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..32)
        .map(|_| {
            CHARS[(js_sys::Math::random() * CHARS.len() as f64) as usize % CHARS.len()] as char
        })
        .collect()
}

/// Dials the listener at `server` whose certificate hashes to `certhash`; returns the
/// authenticated peer, the peer connection and its handlers.
pub(crate) async fn handshake(
    server: SocketAddr,
    certhash: Fingerprint,
    keypair: &Keypair,
    version: Version,
) -> Result<(PeerId, RtcPeerConnection, Hooks), DialError> {
    let pc = peer_connection().await?;
    let hooks = install(&pc);
    // Declared after `hooks`, so it drops (and closes) first: no handler runs once dropped.
    let mut unfinished = Unfinished(Some(pc.clone()));
    let init = RtcDataChannelInit::new();
    init.set_negotiated(true);
    init.set_id(0);
    let noise_channel = pc.create_data_channel_with_data_channel_dict("", &init);
    let noise_open = opened(noise_channel.clone());
    let noise_channel = WebChannel::new(noise_channel);

    let offer = sdp_of(&JsFuture::from(pc.create_offer()).await.map_err(js)?)?;
    let server_ufrag = match version {
        Version::V1 => {
            let ufrag = dialer_sdp::v1_ufrag(&random_suffix());
            let munged = dialer_sdp::munge_offer(&offer, &ufrag);
            JsFuture::from(pc.set_local_description(&description(RtcSdpType::Offer, &munged)))
                .await
                .map_err(js)?;
            ufrag
        }
        Version::V2 => {
            JsFuture::from(pc.set_local_description(&description(RtcSdpType::Offer, &offer)))
                .await
                .map_err(js)?;
            dialer_sdp::v2_server_ufrag(&offer).ok_or(DialError::Sdp("no ice-pwd in the offer"))?
        }
    };
    let answer = dialer_sdp::answer(server, certhash, &server_ufrag);
    JsFuture::from(pc.set_remote_description(&description(RtcSdpType::Answer, &answer)))
        .await
        .map_err(js)?;
    noise_open.await?;

    let local = pc
        .local_description()
        .map(|description| description.sdp())
        .and_then(|sdp| dialer_sdp::local_fingerprint(&sdp))
        .ok_or(DialError::Sdp(
            "no sha-256 fingerprint in the local description",
        ))?;
    let streams = Streams::dialer();
    let peer = noise::dialer_handshake(&streams, noise_channel, keypair, local, certhash).await?;
    unfinished.0 = None;
    Ok((peer, pc, hooks))
}

/// A peer connection whose handshake failed or was abandoned: the swarm drops the losers of
/// a concurrent dial (a WebSocket address that answered first), and an `RTCPeerConnection`
/// nobody closes lives on, checking ICE, while the listener holds its half-done attempt
/// until the handshake limit. Closing it sends the listener DTLS `close_notify` at once.
struct Unfinished(Option<RtcPeerConnection>);

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(pc) = self.0.take() {
            pc.close();
        }
    }
}
