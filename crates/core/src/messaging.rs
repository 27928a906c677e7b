//! Direct messages between peers: libp2p request/response over `/webkad/msg/1.0.0`.
//!
//! The wire format is as plain as a libp2p protocol gets, so any implementation can speak
//! it: the requester writes the message bytes and closes its write side; the responder
//! writes its acknowledgement bytes and closes. Either side reading more than the configured
//! limit stops with an `InvalidData` error instead of buffering without end.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{StreamProtocol, request_response};

/// The request/response codec for direct messages: raw bytes each way, size-limited.
#[derive(Debug, Clone)]
pub struct MessageCodec {
    max_bytes: usize,
}

impl MessageCodec {
    /// A codec that accepts messages and acknowledgements of at most `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes }
    }

    async fn read_limited<T: AsyncRead + Unpin + Send>(&self, io: &mut T) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        let limit = u64::try_from(self.max_bytes)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        io.take(limit).read_to_end(&mut buf).await?;
        if buf.len() > self.max_bytes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("message larger than {} bytes", self.max_bytes),
            ));
        }
        Ok(buf)
    }

    async fn write_all<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
        io.write_all(bytes).await?;
        io.close().await
    }
}

impl request_response::Codec for MessageCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.read_limited(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.read_limited(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Self::write_all(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Self::write_all(io, &res).await
    }
}

#[cfg(test)]
mod tests {
    use futures::io::Cursor;
    use libp2p::request_response::Codec;

    use super::*;

    fn proto() -> StreamProtocol {
        StreamProtocol::new(crate::config::MESSAGE_PROTOCOL)
    }

    #[test]
    fn reads_a_message_up_to_the_limit_and_refuses_more() {
        futures::executor::block_on(async {
            let mut codec = MessageCodec::new(4);
            let ok = codec
                .read_request(&proto(), &mut Cursor::new(b"abcd".to_vec()))
                .await;
            assert_eq!(ok.expect("fits"), b"abcd");
            let err = codec
                .read_request(&proto(), &mut Cursor::new(b"abcde".to_vec()))
                .await
                .expect_err("too large");
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        });
    }
}
