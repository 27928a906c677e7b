//! [`DataChannel`] over the browser's `RTCDataChannel`.
//!
//! Its handlers are installed when the channel is wrapped and removed before their closures
//! are dropped, so the browser never calls into a dropped closure (libp2p-webrtc-websys' page
//! threw `closure invoked recursively or after being dropped`). A browser cannot slow down a
//! sender, so the inbox is bounded by closing a channel whose reader falls too far behind.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{MessageEvent, RtcDataChannel, RtcDataChannelState, RtcDataChannelType};

use crate::channel::DataChannel;
use crate::frame::MAX_MESSAGE_SIZE;

/// Messages held for a reader that does not keep up (up to 4 MiB of full frames).
const MAX_INBOX: usize = 256;
/// Above this many bytes in the browser's send buffer, writers wait.
const HIGH_WATER: u32 = 256 * 1024;
/// Writers resume when the send buffer drains below this (`bufferedamountlow`).
const LOW_WATER: u32 = 64 * 1024;

#[derive(Default)]
struct Shared {
    inbox: VecDeque<Vec<u8>>,
    closed: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl Shared {
    fn wake_all(&mut self) {
        if let Some(waker) = self.reader.take() {
            waker.wake();
        }
        if let Some(waker) = self.writer.take() {
            waker.wake();
        }
    }
}

type Handler = Closure<dyn FnMut(web_sys::Event)>;

/// An `RTCDataChannel` as a [`DataChannel`]; `Send` for libp2p through a [`SendWrapper`]
/// (the page has one thread, so the wrapper's thread check always holds).
pub struct WebChannel(SendWrapper<Inner>);

struct Inner {
    channel: RtcDataChannel,
    shared: Rc<RefCell<Shared>>,
    _handlers: [Handler; 4],
}

impl WebChannel {
    /// Wraps a channel (open or still opening) and installs its handlers now.
    pub fn new(channel: RtcDataChannel) -> Self {
        channel.set_binary_type(RtcDataChannelType::Arraybuffer);
        channel.set_buffered_amount_low_threshold(LOW_WATER);
        let shared = Rc::new(RefCell::new(Shared::default()));
        let on_message = {
            let (shared, channel) = (shared.clone(), channel.clone());
            Handler::new(move |event: web_sys::Event| {
                let Some(event) = event.dyn_ref::<MessageEvent>() else {
                    return;
                };
                let bytes = js_sys::Uint8Array::new(&event.data()).to_vec();
                let mut shared = shared.borrow_mut();
                if shared.inbox.len() >= MAX_INBOX {
                    tracing::debug!("data channel reader too slow; closing the channel");
                    shared.closed = true;
                    channel.close();
                } else {
                    shared.inbox.push_back(bytes);
                }
                shared.wake_all();
            })
        };
        let on_close = {
            let shared = shared.clone();
            Handler::new(move |_| {
                let mut shared = shared.borrow_mut();
                shared.closed = true;
                shared.wake_all();
            })
        };
        let on_error = {
            let shared = shared.clone();
            Handler::new(move |_| {
                let mut shared = shared.borrow_mut();
                shared.closed = true;
                shared.wake_all();
            })
        };
        let on_low = {
            let shared = shared.clone();
            Handler::new(move |_| shared.borrow_mut().wake_all())
        };
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        channel.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        channel.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        channel.set_onbufferedamountlow(Some(on_low.as_ref().unchecked_ref()));
        Self(SendWrapper::new(Inner {
            channel,
            shared,
            _handlers: [on_message, on_close, on_error, on_low],
        }))
    }

    /// The wrapped channel.
    pub fn inner(&self) -> &RtcDataChannel {
        &self.0.channel
    }
}

impl Inner {
    fn is_closed(&self) -> bool {
        self.shared.borrow().closed
            || matches!(
                self.channel.ready_state(),
                RtcDataChannelState::Closing | RtcDataChannelState::Closed
            )
    }
}

impl DataChannel for WebChannel {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Vec<u8>>> {
        self.0.poll_recv(cx)
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_ready(cx)
    }

    fn send(&mut self, message: Vec<u8>) -> io::Result<()> {
        self.0.send(message)
    }

    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // What `send` queued, the browser delivers, even across `close()`.
        Poll::Ready(Ok(()))
    }

    fn max_message_size(&self) -> usize {
        MAX_MESSAGE_SIZE
    }

    fn close(&mut self) {
        self.0.close();
    }
}

impl Inner {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Vec<u8>>> {
        let mut shared = self.shared.borrow_mut();
        if let Some(message) = shared.inbox.pop_front() {
            return Poll::Ready(Some(message));
        }
        if shared.closed {
            return Poll::Ready(None);
        }
        shared.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_closed() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if self.channel.buffered_amount() <= HIGH_WATER {
            return Poll::Ready(Ok(()));
        }
        self.shared.borrow_mut().writer = Some(cx.waker().clone());
        Poll::Pending
    }

    fn send(&mut self, message: Vec<u8>) -> io::Result<()> {
        // Sending on a channel that is still connecting throws; the stream only sends after
        // the channel opened (the dialer waits for `open` before handing it out).
        self.channel
            .send_with_u8_array(&message)
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }

    fn close(&mut self) {
        self.channel.close();
        let mut shared = self.shared.borrow_mut();
        shared.closed = true;
        shared.wake_all();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Detach the handlers before their closures go, so no late event calls a dropped one.
        self.channel.set_onmessage(None);
        self.channel.set_onclose(None);
        self.channel.set_onerror(None);
        self.channel.set_onbufferedamountlow(None);
    }
}
