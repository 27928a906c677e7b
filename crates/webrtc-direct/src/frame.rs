//! The message framing of the libp2p WebRTC spec: every data-channel message carries
//! `varint(len) || protobuf Message { optional Flag flag = 1; optional bytes message = 2; }`.
//!
//! The protobuf has two fields, so it is encoded by hand here rather than through a
//! protobuf crate (which would add bytes to the page for two tags).

use thiserror::Error;

/// Largest encoded frame, length prefix included, that the spec lets a sender put in one
/// data-channel message ("MUST NOT exceed 16kiB to support all major browsers").
pub const MAX_MESSAGE_SIZE: usize = 16 * 1024;

/// Bytes a frame adds around its payload at most: the varint length prefix (2 bytes below
/// 16 KiB), the flag field (2 bytes), the payload tag (1 byte) and its varint length (2 bytes).
const MAX_OVERHEAD: usize = 7;

/// The `Flag` enum of the spec; each value is a half-close signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// The sender will send nothing more on the stream.
    Fin,
    /// The sender will read nothing more; data sent to it is discarded on receipt.
    StopSending,
    /// The sender aborted its sending half; data in flight may be dropped.
    ResetStream,
    /// Acknowledges a received `Fin`: everything sent before it arrived.
    FinAck,
}

impl Flag {
    fn code(self) -> u64 {
        match self {
            Flag::Fin => 0,
            Flag::StopSending => 1,
            Flag::ResetStream => 2,
            Flag::FinAck => 3,
        }
    }

    fn from_code(code: u64) -> Result<Self, FrameError> {
        Ok(match code {
            0 => Flag::Fin,
            1 => Flag::StopSending,
            2 => Flag::ResetStream,
            3 => Flag::FinAck,
            other => return Err(FrameError::UnknownFlag(other)),
        })
    }
}

/// One decoded frame: an optional flag and the (possibly empty) payload it carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    /// The half-close signal, if any.
    pub flag: Option<Flag>,
    /// Stream bytes; delivered before the flag takes effect.
    pub payload: Vec<u8>,
}

/// Why bytes from the remote are not a frame.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix announces more than a data-channel message may carry.
    #[error("frame of {0} bytes exceeds the {MAX_MESSAGE_SIZE}-byte limit of the spec")]
    TooLarge(u64),
    /// A varint ran past 10 bytes or past the frame.
    #[error("malformed varint in frame")]
    BadVarint,
    /// A field ran past the end of the frame.
    #[error("truncated protobuf field in frame")]
    Truncated,
    /// A wire type protobuf does not define (3, 4, 6 and 7 are groups or invalid).
    #[error("unsupported protobuf wire type {0} in frame")]
    BadWireType(u8),
    /// A flag value the spec does not define.
    #[error("unknown frame flag {0}")]
    UnknownFlag(u64),
}

/// The largest payload a data frame may carry so that the whole encoded frame fits in
/// `message_limit` bytes (the smaller of the spec's 16 KiB and the remote's
/// `max-message-size`).
pub fn max_payload(message_limit: usize) -> usize {
    message_limit
        .min(MAX_MESSAGE_SIZE)
        .saturating_sub(MAX_OVERHEAD)
        .max(1)
}

/// Encodes one frame, length prefix included, into a fresh buffer.
pub fn encode(flag: Option<Flag>, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(payload.len() + MAX_OVERHEAD);
    if let Some(flag) = flag {
        body.push(0x08); // field 1, varint
        put_varint(&mut body, flag.code());
    }
    if !payload.is_empty() {
        body.push(0x12); // field 2, length-delimited
        put_varint(&mut body, payload.len() as u64);
        body.extend_from_slice(payload);
    }
    let mut out = Vec::with_capacity(body.len() + 3);
    put_varint(&mut out, body.len() as u64);
    out.extend_from_slice(&body);
    out
}

/// Decodes the protobuf body of one frame (the bytes after the length prefix).
pub fn decode_body(mut body: &[u8]) -> Result<Frame, FrameError> {
    let mut frame = Frame::default();
    while !body.is_empty() {
        let key = take_varint(&mut body)?;
        let (field, wire) = (key >> 3, (key & 7) as u8);
        match (field, wire) {
            (1, 0) => frame.flag = Some(Flag::from_code(take_varint(&mut body)?)?),
            (2, 2) => {
                let len =
                    usize::try_from(take_varint(&mut body)?).map_err(|_| FrameError::Truncated)?;
                let bytes = body.get(..len).ok_or(FrameError::Truncated)?;
                frame.payload.extend_from_slice(bytes);
                body = &body[len..];
            }
            // Fields a later version may add: skip them.
            (_, 0) => {
                take_varint(&mut body)?;
            }
            (_, 1) => body = body.get(8..).ok_or(FrameError::Truncated)?,
            (_, 5) => body = body.get(4..).ok_or(FrameError::Truncated)?,
            (_, 2) => {
                let len =
                    usize::try_from(take_varint(&mut body)?).map_err(|_| FrameError::Truncated)?;
                body = body.get(len..).ok_or(FrameError::Truncated)?;
            }
            (_, other) => return Err(FrameError::BadWireType(other)),
        }
    }
    Ok(frame)
}

/// Reassembles frames from data-channel messages. Peers send one frame per message, but the
/// spec frames a byte stream, so a frame split across messages (or several in one) decodes too.
/// Holds at most one partial frame plus the message that completes it.
#[derive(Debug, Default)]
pub struct Decoder {
    buffer: Vec<u8>,
}

impl Decoder {
    /// Appends one received data-channel message.
    pub fn push(&mut self, message: &[u8]) {
        self.buffer.extend_from_slice(message);
    }

    /// True when no bytes of a next frame are buffered.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    /// The next complete frame, `None` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let mut rest = self.buffer.as_slice();
        let len = match take_varint(&mut rest) {
            Ok(len) => len,
            // An incomplete varint (at most 10 bytes) waits for more input.
            Err(FrameError::BadVarint) if self.buffer.len() < 10 && ends_mid_varint(rest) => {
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
        if len > MAX_MESSAGE_SIZE as u64 {
            return Err(FrameError::TooLarge(len));
        }
        let len = len as usize;
        if rest.len() < len {
            return Ok(None);
        }
        let frame = decode_body(&rest[..len])?;
        let consumed = self.buffer.len() - rest.len() + len;
        self.buffer.drain(..consumed);
        Ok(Some(frame))
    }
}

fn ends_mid_varint(rest: &[u8]) -> bool {
    rest.iter().all(|byte| byte & 0x80 != 0)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads one unsigned LEB128 varint; on error `input` is left unchanged.
fn take_varint(input: &mut &[u8]) -> Result<u64, FrameError> {
    let mut value = 0u64;
    for (index, byte) in input.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            *input = &input[index + 1..];
            return Ok(value);
        }
    }
    Err(FrameError::BadVarint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(flag: Option<Flag>, payload: &[u8]) -> Frame {
        let mut decoder = Decoder::default();
        decoder.push(&encode(flag, payload));
        let frame = decoder.next_frame().expect("valid").expect("complete");
        assert!(decoder.is_empty());
        frame
    }

    #[test]
    fn every_flag_and_payload_roundtrips() {
        for flag in [
            None,
            Some(Flag::Fin),
            Some(Flag::StopSending),
            Some(Flag::ResetStream),
            Some(Flag::FinAck),
        ] {
            for payload in [&b""[..], b"x", &[7u8; 300]] {
                let frame = roundtrip(flag, payload);
                assert_eq!(frame.flag, flag);
                assert_eq!(frame.payload, payload);
            }
        }
    }

    #[test]
    fn matches_the_protobuf_encoding_of_other_implementations() {
        // FIN_ACK alone: length 2, field 1 = 3.
        assert_eq!(encode(Some(Flag::FinAck), b""), [2, 0x08, 3]);
        // "hi" with no flag: length 4, field 2 = "hi".
        assert_eq!(encode(None, b"hi"), [4, 0x12, 2, b'h', b'i']);
    }

    #[test]
    fn the_largest_payload_fills_exactly_one_spec_message() {
        let payload = vec![0u8; max_payload(MAX_MESSAGE_SIZE)];
        // Even with a flag the encoded frame stays within the limit.
        assert!(encode(Some(Flag::Fin), &payload).len() <= MAX_MESSAGE_SIZE);
        assert_eq!(encode(Some(Flag::Fin), &payload).len(), MAX_MESSAGE_SIZE);
        // A remote that takes less gets smaller frames.
        assert!(encode(None, &vec![0; max_payload(1200)]).len() <= 1200);
    }

    #[test]
    fn frames_split_across_messages_and_batched_in_one_decode() {
        let mut bytes = encode(None, &[1u8; 200]);
        bytes.extend(encode(Some(Flag::Fin), b""));
        let mut decoder = Decoder::default();
        decoder.push(&bytes[..1]);
        assert_eq!(decoder.next_frame(), Ok(None));
        decoder.push(&bytes[1..150]);
        assert_eq!(decoder.next_frame(), Ok(None));
        decoder.push(&bytes[150..]);
        assert_eq!(
            decoder.next_frame().expect("valid").expect("frame").payload,
            vec![1u8; 200]
        );
        assert_eq!(
            decoder.next_frame().expect("valid").expect("frame").flag,
            Some(Flag::Fin)
        );
        assert_eq!(decoder.next_frame(), Ok(None));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut decoder = Decoder::default();
        decoder.push(&[0xff, 0xff, 0x03]);
        assert_eq!(decoder.next_frame(), Err(FrameError::TooLarge(65535)));
        assert_eq!(decode_body(&[0x08, 9]), Err(FrameError::UnknownFlag(9)));
        assert_eq!(decode_body(&[0x12, 5, 1]), Err(FrameError::Truncated));
        assert_eq!(decode_body(&[0x0b]), Err(FrameError::BadWireType(3)));
        assert_eq!(decode_body(&[0x08]), Err(FrameError::BadVarint));
        let mut decoder = Decoder::default();
        decoder.push(&[0xff; 11]);
        assert_eq!(decoder.next_frame(), Err(FrameError::BadVarint));
        // Unknown fields are skipped.
        assert_eq!(
            decode_body(&[0x18, 1, 0x08, 0]).expect("valid").flag,
            Some(Flag::Fin)
        );
    }
}
