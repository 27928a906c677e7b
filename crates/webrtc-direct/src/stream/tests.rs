//! Streams on both ends of an in-process data channel (ordered, reliable, message-oriented,
//! with a bounded inbox), driven by a real executor and real timers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use futures::{AsyncReadExt, AsyncWriteExt, future};

use super::*;

const INBOX: usize = 32;

#[derive(Default)]
struct End {
    inbox: VecDeque<Vec<u8>>,
    recv_waker: Option<Waker>,
    send_waker: Option<Waker>,
    largest: usize,
}

#[derive(Default)]
struct Wire {
    ends: [End; 2],
    closed: bool,
}

struct Pipe {
    wire: Arc<Mutex<Wire>>,
    me: usize,
    max_message: usize,
}

fn pipe(max_message: usize) -> (Pipe, Pipe, Arc<Mutex<Wire>>) {
    let wire = Arc::new(Mutex::new(Wire::default()));
    let end = |me| Pipe {
        wire: wire.clone(),
        me,
        max_message,
    };
    (end(0), end(1), wire)
}

impl DataChannel for Pipe {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Vec<u8>>> {
        let mut wire = self.wire.lock().expect("lock");
        let closed = wire.closed;
        let end = &mut wire.ends[self.me];
        if let Some(message) = end.inbox.pop_front() {
            if let Some(waker) = end.send_waker.take() {
                waker.wake();
            }
            return Poll::Ready(Some(message));
        }
        if closed {
            return Poll::Ready(None);
        }
        end.recv_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<stdio::Result<()>> {
        let mut wire = self.wire.lock().expect("lock");
        if wire.closed {
            return Poll::Ready(Err(stdio::ErrorKind::BrokenPipe.into()));
        }
        let peer = &mut wire.ends[1 - self.me];
        if peer.inbox.len() >= INBOX {
            peer.send_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    fn send(&mut self, message: Vec<u8>) -> stdio::Result<()> {
        let mut wire = self.wire.lock().expect("lock");
        if wire.closed {
            return Err(stdio::ErrorKind::BrokenPipe.into());
        }
        let peer = &mut wire.ends[1 - self.me];
        peer.largest = peer.largest.max(message.len());
        peer.inbox.push_back(message);
        if let Some(waker) = peer.recv_waker.take() {
            waker.wake();
        }
        Ok(())
    }

    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<stdio::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn max_message_size(&self) -> usize {
        self.max_message
    }

    fn close(&mut self) {
        let mut wire = self.wire.lock().expect("lock");
        wire.closed = true;
        for end in &mut wire.ends {
            if let Some(waker) = end.recv_waker.take() {
                waker.wake();
            }
            if let Some(waker) = end.send_waker.take() {
                waker.wake();
            }
        }
    }
}

fn is_closed(wire: &Arc<Mutex<Wire>>) -> bool {
    wire.lock().expect("lock").closed
}

/// Polls both connections' lingering closes until none is left (bounded).
async fn settle(a: &mut Streams<Pipe>, b: &mut Streams<Pipe>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    future::poll_fn(|cx| {
        let left = a.poll_closing(cx) + b.poll_closing(cx);
        if left == 0 || Instant::now() > deadline {
            Poll::Ready(left)
        } else {
            Poll::Pending
        }
    })
    .await;
}

#[test]
fn request_response_closes_both_ways_with_fin_acks() {
    let (mut a_streams, mut b_streams) = (Streams::dialer(), Streams::listener());
    let (a_end, b_end, wire) = pipe(frame::MAX_MESSAGE_SIZE);
    let (mut a, mut b) = (a_streams.wrap(a_end), b_streams.wrap(b_end));
    block_on(async {
        let dialer = async {
            a.write_all(b"request").await.expect("write");
            a.close().await.expect("close");
            let mut reply = Vec::new();
            a.read_to_end(&mut reply).await.expect("read");
            reply
        };
        let listener = async {
            let mut request = Vec::new();
            b.read_to_end(&mut request).await.expect("read");
            b.write_all(b"reply").await.expect("write");
            b.close().await.expect("close");
            request
        };
        let (reply, request) = future::join(dialer, listener).await;
        assert_eq!(request, b"request");
        assert_eq!(reply, b"reply");
    });
    // The dialer acknowledged the listener's FIN after its own; the listener, which answers
    // only peers that acknowledge, then acknowledged the dialer's. The dropped streams take
    // the acknowledgements in, then close.
    drop((a, b));
    block_on(settle(&mut a_streams, &mut b_streams));
    assert!(a_streams.peer_acks() && b_streams.peer_acks());
    assert!(is_closed(&wire));
}

/// The flags of every frame that reached `end` of the wire.
fn flags_received(wire: &Arc<Mutex<Wire>>, end: usize) -> Vec<Option<Flag>> {
    let mut decoder = frame::Decoder::default();
    for message in wire.lock().expect("lock").ends[end].inbox.drain(..) {
        decoder.push(&message);
    }
    std::iter::from_fn(|| decoder.next_frame().expect("valid frames"))
        .map(|frame| frame.flag)
        .collect()
}

/// A listener's stream that read a request closed with FIN from a remote end driven by hand
/// as rust-libp2p's WebRTC does it (never a FIN_ACK), and wrote `answer`.
struct Answered {
    streams: Streams<Pipe>,
    remote: Pipe,
    stream: Stream<Pipe>,
    wire: Arc<Mutex<Wire>>,
}

fn answered(answer: &[u8]) -> Answered {
    let streams = Streams::listener();
    let (mut remote, end, wire) = pipe(frame::MAX_MESSAGE_SIZE);
    let mut stream = streams.wrap(end);
    remote.send(frame::encode(None, b"request")).expect("send");
    let fin = frame::encode(Some(Flag::Fin), &[]);
    remote.send(fin).expect("send");
    block_on(async {
        let mut request = Vec::new();
        stream.read_to_end(&mut request).await.expect("read");
        assert_eq!(request, b"request");
        stream.write_all(answer).await.expect("write");
    });
    Answered {
        streams,
        remote,
        stream,
        wire,
    }
}

/// Polls the lingering closes until none is left.
fn settle_one(streams: &mut Streams<Pipe>) {
    block_on(future::poll_fn(|cx| match streams.poll_closing(cx) {
        0 => Poll::Ready(()),
        _ => Poll::Pending,
    }));
}

#[test]
fn a_listener_never_sends_fin_ack_to_a_peer_that_never_sent_one() {
    let Answered {
        mut streams,
        mut remote,
        mut stream,
        wire,
    } = answered(b"reply");
    block_on(stream.close()).expect("close");
    drop(stream);
    assert_eq!(flags_received(&wire, 0), [None, Some(Flag::Fin)]);
    remote.close();
    settle_one(&mut streams);
    assert!(flags_received(&wire, 0).is_empty(), "no FIN_ACK, ever");
}

#[test]
fn an_answer_dropped_after_the_remote_finished_ends_with_fin_and_keeps_the_channel_open() {
    // libp2p-kad answers on an inbound stream, sees the requester's FIN and drops the stream
    // without closing it. A reset would close the channel at once, and webrtc-rs loses what
    // the requester has received but not read yet: the answer must be followed by FIN, and
    // the channel close must wait for the requester.
    let Answered {
        mut streams,
        mut remote,
        stream,
        wire,
    } = answered(b"answer");
    drop(stream);
    assert_eq!(flags_received(&wire, 0), [None, Some(Flag::Fin)]);
    block_on(future::poll_fn(|cx| {
        assert_eq!(streams.poll_closing(cx), 1);
        Poll::Ready(())
    }));
    assert!(!is_closed(&wire), "the channel waits for the requester");
    remote.close();
    settle_one(&mut streams);
}

#[test]
fn a_value_of_64_kib_crosses_intact_in_frames_the_remote_takes() {
    let streams = Streams::dialer();
    let (a_end, b_end, wire) = pipe(1200);
    let (mut a, mut b) = (streams.wrap(a_end), streams.wrap(b_end));
    let value: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let got = block_on(async {
        let send = async {
            a.write_all(&value).await.expect("write");
            a.close().await.expect("close");
        };
        let receive = async {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.expect("read");
            got
        };
        future::join(send, receive).await.1
    });
    assert_eq!(got, value);
    assert!(wire.lock().expect("lock").ends[1].largest <= 1200);
}

#[test]
fn a_stream_dropped_without_close_resets_the_remote_reader() {
    let streams = Streams::dialer();
    let (a_end, b_end, _wire) = pipe(frame::MAX_MESSAGE_SIZE);
    let (mut a, mut b) = (streams.wrap(a_end), streams.wrap(b_end));
    block_on(async {
        a.write_all(b"partial").await.expect("write");
        drop(a);
        let mut got = [0u8; 7];
        b.read_exact(&mut got).await.expect("data before the reset");
        let error = b.read(&mut got).await.expect_err("reset");
        assert_eq!(error.kind(), stdio::ErrorKind::ConnectionReset);
    });
}

/// The identify pattern: the requester reads the answer and drops its stream before the
/// answerer's FIN arrives. Its channel stays open until that FIN (the remote is done
/// sending), so a webrtc-rs remote never has a queued message left when the reset comes.
#[test]
fn an_aborted_stream_keeps_its_channel_until_the_remote_is_done_sending() {
    let (mut a_streams, mut b_streams) = (Streams::listener(), Streams::dialer());
    let (a_end, b_end, wire) = pipe(frame::MAX_MESSAGE_SIZE);
    let (mut a, mut b) = (a_streams.wrap(a_end), b_streams.wrap(b_end));
    block_on(async {
        b.write_all(b"identify").await.expect("write");
        let mut got = [0u8; 8];
        a.read_exact(&mut got).await.expect("read");
    });
    drop(a);
    assert!(
        !is_closed(&wire),
        "the remote may still be sending: its FIN is on the way"
    );
    block_on(async {
        // The answerer's close: its FIN, then the reset it gets in return.
        let _ = b.close().await;
        drop(b);
        settle(&mut a_streams, &mut b_streams).await;
    });
    assert!(is_closed(&wire), "closed once both sides are done");
}

#[test]
fn stop_sending_fails_the_remote_writer() {
    let streams = Streams::dialer();
    let (a_end, b_end, _wire) = pipe(frame::MAX_MESSAGE_SIZE);
    let (mut a, mut b) = (streams.wrap(a_end), streams.wrap(b_end));
    b.io().send_flag_now(Flag::StopSending);
    let error = block_on(a.write_all(b"into the void")).expect_err("stopped");
    assert_eq!(error.kind(), stdio::ErrorKind::BrokenPipe);
    drop(b);
}

#[test]
fn a_dropped_stream_lingers_until_its_fin_ack_then_closes() {
    let (mut a_streams, mut b_streams) = (Streams::dialer(), Streams::dialer());
    let (a_end, b_end, wire) = pipe(frame::MAX_MESSAGE_SIZE);
    let (mut a, mut b) = (a_streams.wrap(a_end), b_streams.wrap(b_end));
    block_on(async {
        a.write_all(b"last words").await.expect("write");
        a.close().await.expect("close");
    });
    drop(a);
    assert!(
        !is_closed(&wire),
        "closing now could lose the data in flight"
    );
    block_on(async {
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, b"last words");
        settle(&mut a_streams, &mut b_streams).await;
    });
    assert!(is_closed(&wire), "closed on the FIN_ACK");
}

#[test]
fn a_close_waits_for_the_fin_ack_of_a_peer_that_acks_but_not_forever() {
    let streams = Streams::dialer();
    let (a_end, b_end, _wire) = pipe(frame::MAX_MESSAGE_SIZE);
    let (mut a, b) = (streams.wrap(a_end), streams.wrap(b_end));
    // The peer acknowledged before, then goes silent: the close gives up after the timeout.
    a.io()
        .peer_acks
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    block_on(a.close()).expect("close");
    let waited = started.elapsed();
    assert!(waited >= FIN_ACK_TIMEOUT, "{waited:?}");
    assert!(
        waited < FIN_ACK_TIMEOUT + Duration::from_secs(2),
        "{waited:?}"
    );
    drop(b);
}

#[test]
fn many_short_streams_both_ways_leave_nothing_half_open() {
    let (mut a_streams, mut b_streams) = (Streams::dialer(), Streams::listener());
    let mut wires = Vec::new();
    block_on(async {
        for round in 0..200u32 {
            let (a_end, b_end, wire) = pipe(frame::MAX_MESSAGE_SIZE);
            wires.push(wire);
            let (mut a, mut b) = (a_streams.wrap(a_end), b_streams.wrap(b_end));
            // Alternate who opens, so both directions run.
            if round % 2 == 1 {
                std::mem::swap(&mut a, &mut b);
            }
            let opener = async move {
                a.write_all(&round.to_be_bytes()).await.expect("write");
                a.close().await.expect("close");
                let mut reply = Vec::new();
                a.read_to_end(&mut reply).await.expect("read");
                reply
            };
            let answerer = async move {
                let mut request = Vec::new();
                b.read_to_end(&mut request).await.expect("read");
                b.write_all(&request).await.expect("write");
                b.close().await.expect("close");
            };
            let (reply, ()) = future::join(opener, answerer).await;
            assert_eq!(reply, round.to_be_bytes());
        }
        settle(&mut a_streams, &mut b_streams).await;
    });
    let open = wires.iter().filter(|wire| !is_closed(wire)).count();
    assert_eq!(open, 0, "{open} of 200 channels still open");
}
