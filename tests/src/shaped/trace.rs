//! The wire's packet trace (`WEBKAD_WIRE_TRACE=<file>`): one line per UDP packet and per
//! TCP segment with a payload delivered, to see where a join's round trips go on the
//! shaped link.

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Instant,
};

/// The trace file and the wire's start, shared by both directions; off without the variable.
#[derive(Clone, Default)]
pub(super) struct Trace(Option<Arc<(Instant, Mutex<std::fs::File>)>>);

impl Trace {
    /// Opens (appends to) the file `WEBKAD_WIRE_TRACE` names, if any.
    pub(super) fn from_env() -> Self {
        let file = std::env::var_os("WEBKAD_WIRE_TRACE").and_then(|path| {
            let open = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path);
            open.inspect_err(|e| eprintln!("no wire trace: {e}")).ok()
        });
        Self(file.map(|f| Arc::new((Instant::now(), Mutex::new(f)))))
    }

    /// The tracer of one direction, labelled `name`.
    pub(super) fn side(&self, name: &'static str) -> Side {
        Side(self.clone(), name)
    }
}

/// One direction's tracer.
pub(super) struct Side(Trace, &'static str);

impl Side {
    /// Records `packet` (an IPv4 packet) if it is UDP, or TCP with a payload, and tracing
    /// is on.
    pub(super) fn packet(&self, packet: &[u8]) {
        let Some(shared) = &self.0.0 else { return };
        let Some(what) = udp_payload(packet)
            .map(classify)
            .or_else(|| tcp_payload(packet))
        else {
            return;
        };
        let ms = shared.0.elapsed().as_secs_f64() * 1000.0;
        if let Ok(mut file) = shared.1.lock() {
            let _ = writeln!(file, "{ms:10.1} {} {:5} {what}", self.1, packet.len());
        }
    }
}

/// The UDP payload of an IPv4 packet.
fn udp_payload(packet: &[u8]) -> Option<&[u8]> {
    let ihl = usize::from(packet.first()? & 0x0f) * 4;
    (packet.first()? >> 4 == 4 && *packet.get(9)? == 17).then_some(())?;
    packet.get(ihl + 8..)
}

/// "TCP <source port>→<destination port> <payload bytes>" for a TCP segment with a payload.
fn tcp_payload(packet: &[u8]) -> Option<String> {
    let ihl = usize::from(packet.first()? & 0x0f) * 4;
    (packet.first()? >> 4 == 4 && *packet.get(9)? == 6).then_some(())?;
    let total = usize::from(u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]));
    let tcp = packet.get(ihl..)?;
    let offset = usize::from(tcp.get(12)? >> 4) * 4;
    let payload = total.checked_sub(ihl + offset).filter(|&n| n > 0)?;
    let port = |i: usize| u16::from_be_bytes([tcp[i], tcp[i + 1]]);
    Some(format!("TCP {}->{} {payload}", port(0), port(2)))
}

/// What a UDP payload carries, by RFC 7983's demultiplexing of its first byte.
fn classify(payload: &[u8]) -> String {
    match payload.first() {
        Some(0..=3) => {
            let kind = payload
                .get(..2)
                .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            let name = match kind {
                0x0001 => "binding request",
                0x0101 => "binding success",
                0x0111 => "binding error",
                0x0011 => "binding indication",
                _ => return format!("STUN type {kind:#06x}"),
            };
            format!("STUN {name}")
        }
        Some(20..=63) => {
            // Every DTLS record in the datagram: content type, epoch, and for a plaintext
            // handshake record its message type.
            let mut out = String::from("DTLS");
            let mut rest = payload;
            while rest.len() >= 13 {
                let (kind, epoch) = (rest[0], u16::from_be_bytes([rest[3], rest[4]]));
                let len = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
                let body = rest.get(13..13 + len).unwrap_or_default();
                let name = match (kind, epoch, body.first()) {
                    (20, _, _) => "ChangeCipherSpec".to_owned(),
                    (21, _, _) => "Alert".to_owned(),
                    (22, 0, Some(t)) => handshake_name(*t).to_owned(),
                    (22, _, _) => "Finished(enc)".to_owned(),
                    (23, _, _) => format!("data[{len}]"),
                    _ => format!("type{kind}"),
                };
                out.push(' ');
                out.push_str(&name);
                rest = rest.get(13 + len..).unwrap_or_default();
            }
            out
        }
        _ => "other".to_owned(),
    }
}

fn handshake_name(t: u8) -> &'static str {
    match t {
        1 => "ClientHello",
        2 => "ServerHello",
        3 => "HelloVerifyRequest",
        11 => "Certificate",
        12 => "ServerKeyExchange",
        13 => "CertificateRequest",
        14 => "ServerHelloDone",
        15 => "CertificateVerify",
        16 => "ClientKeyExchange",
        20 => "Finished",
        _ => "Handshake?",
    }
}
