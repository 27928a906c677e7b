//! The line console of `webkad serve`: the classic kv-store commands on stdin.
//!
//! [`parse`] turns a line into a [`ConsoleCommand`] (or a one-line usage error) without
//! touching the node; [`execute`] runs it and returns the line(s) to print.

use libp2p::{Multiaddr, PeerId};
use webkad_core::{Client, PingTarget};

use crate::output::{quote, show_rtt};

/// A parsed console command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleCommand {
    /// `PUT key value…`: the value is the rest of the line.
    Put(String, String),
    /// `PUT_SIGNED name value…`: this node's owner-signed record.
    PutSigned(String, String),
    /// `GET key` (`<peer-id>/<name>` reads a signed record).
    Get(String),
    /// `PUT_PROVIDER key`.
    PutProvider(String),
    /// `GET_PROVIDERS key`.
    GetProviders(String),
    /// `PING peer-or-addr`.
    Ping(PingTarget),
    /// `FIND_PEER peer-id`.
    FindPeer(PeerId),
    /// `SEND peer text…`: a direct message; the text is the rest of the line.
    Send(PeerId, String),
    /// `SUB topic`.
    Sub(String),
    /// `UNSUB topic`.
    Unsub(String),
    /// `PUB topic text…`: the text is the rest of the line.
    Pub(String, String),
    /// `ROOMS`.
    Rooms,
    /// `DISCOVER [namespace]`.
    Discover(Option<String>),
    /// `PEERS`.
    Peers,
    /// `ADDRS`.
    Addrs,
    /// `NAT`: reachability, external addresses, UPnP, direct or relayed connections.
    Nat,
    /// `STATS`.
    Stats,
    /// `HELP`.
    Help,
}

/// The HELP text.
pub const HELP: &str = "\
Commands:
  PUT key value        store a record (the value is the rest of the line)
  PUT_SIGNED name value  store this node's signed record <peer-id>/name (only it can change it)
  GET key              look a record up (<peer-id>/name: a signed record, signature checked)
  PUT_PROVIDER key     announce this node as a provider of key
  GET_PROVIDERS key    find the providers of key
  PING peer-or-addr    measure a round trip (peer id or multiaddr)
  FIND_PEER peer-id    find a peer's addresses through the DHT
  SEND peer-id text    send a direct message (to a page: through the relay)
  SUB topic            join a room; its messages are printed as they arrive
  PUB topic text       post in a room
  UNSUB topic          leave a room
  ROOMS                list joined rooms and their peers
  DISCOVER [namespace] list the peers registered at the rendezvous server
                       (default namespace: webkad-browsers, where pages register)
  PEERS                list connected peers
  ADDRS                list this node's addresses
  NAT                  reachability (AutoNAT), external addresses, UPnP mappings,
                       and each connection, direct or relayed
  STATS                bandwidth, latency, connections, discovery, protocols,
                       resources and security, one line each (as /api/stats)
  HELP                 this list";

/// Parses one console line. Blank lines are `Ok(None)`.
pub fn parse(line: &str) -> Result<Option<ConsoleCommand>, String> {
    let line = line.trim();
    let (word, rest) = match line.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (line, ""),
    };
    if word.is_empty() {
        return Ok(None);
    }
    let upper = word.to_ascii_uppercase();
    let one = |what: &str| -> Result<String, String> {
        match rest.split_whitespace().collect::<Vec<_>>().as_slice() {
            [arg] => Ok((*arg).to_owned()),
            [] => Err(format!("{upper} needs {what}")),
            _ => Err(format!("{upper} takes only {what}")),
        }
    };
    let command = match upper.as_str() {
        "PUT" => match rest.split_once(char::is_whitespace) {
            Some((key, value)) if !value.trim().is_empty() => {
                ConsoleCommand::Put(key.to_owned(), value.trim().to_owned())
            }
            _ => return Err("PUT needs a key and a value".to_owned()),
        },
        "PUT_SIGNED" => match rest.split_once(char::is_whitespace) {
            Some((name, value)) if !value.trim().is_empty() => {
                ConsoleCommand::PutSigned(name.to_owned(), value.trim().to_owned())
            }
            _ => return Err("PUT_SIGNED needs a name and a value".to_owned()),
        },
        "GET" => ConsoleCommand::Get(one("a key")?),
        "PUT_PROVIDER" => ConsoleCommand::PutProvider(one("a key")?),
        "GET_PROVIDERS" => ConsoleCommand::GetProviders(one("a key")?),
        "PING" => ConsoleCommand::Ping(parse_ping_target(&one("a peer id or multiaddr")?)?),
        "FIND_PEER" => {
            let arg = one("a peer id")?;
            ConsoleCommand::FindPeer(
                arg.parse()
                    .map_err(|_| format!("{arg:?} is not a peer id"))?,
            )
        }
        "SEND" => match rest.split_once(char::is_whitespace) {
            Some((peer, text)) if !text.trim().is_empty() => ConsoleCommand::Send(
                peer.parse()
                    .map_err(|_| format!("{peer:?} is not a peer id"))?,
                text.trim().to_owned(),
            ),
            _ => return Err("SEND needs a peer id and a text".to_owned()),
        },
        "SUB" => ConsoleCommand::Sub(one("a topic")?),
        "UNSUB" => ConsoleCommand::Unsub(one("a topic")?),
        "PUB" => match rest.split_once(char::is_whitespace) {
            Some((topic, text)) if !text.trim().is_empty() => {
                ConsoleCommand::Pub(topic.to_owned(), text.trim().to_owned())
            }
            _ => return Err("PUB needs a topic and a text".to_owned()),
        },
        "ROOMS" => ConsoleCommand::Rooms,
        "DISCOVER" => match rest.split_whitespace().collect::<Vec<_>>().as_slice() {
            [] => ConsoleCommand::Discover(None),
            [namespace] => ConsoleCommand::Discover(Some((*namespace).to_owned())),
            _ => return Err("DISCOVER takes at most a namespace".to_owned()),
        },
        "PEERS" => ConsoleCommand::Peers,
        "ADDRS" => ConsoleCommand::Addrs,
        "NAT" => ConsoleCommand::Nat,
        "STATS" => ConsoleCommand::Stats,
        "HELP" | "?" => ConsoleCommand::Help,
        _ => return Err(format!("unknown command {word:?}; type HELP for the list")),
    };
    Ok(Some(command))
}

/// A peer id, or a multiaddr (ideally ending in `/p2p/`).
pub fn parse_ping_target(arg: &str) -> Result<PingTarget, String> {
    if arg.starts_with('/') {
        arg.parse::<Multiaddr>()
            .map(PingTarget::Addr)
            .map_err(|e| format!("{arg:?} is not a valid multiaddr: {e}"))
    } else {
        arg.parse::<PeerId>()
            .map(PingTarget::Peer)
            .map_err(|_| format!("{arg:?} is neither a multiaddr nor a peer id"))
    }
}

/// Runs a command; returns what to print (one or more lines, no trailing newline).
pub async fn execute(client: &Client, command: ConsoleCommand) -> String {
    match command {
        ConsoleCommand::Put(key, value) => {
            match client
                .put_receipt(key.clone().into_bytes(), value.into_bytes())
                .await
            {
                // This node's store made it durable before it answered; the others each
                // confirmed their own durable copy.
                Ok(receipt) if receipt.confirmations > 0 => format!(
                    "Put record {} (stored here and on {} other DHT server(s))",
                    quote(&key),
                    receipt.confirmations
                ),
                Ok(_) => format!(
                    "Put record {} locally; no other DHT server took a copy yet",
                    quote(&key)
                ),
                Err(e) => format!("PUT {} failed: {e}", quote(&key)),
            }
        }
        ConsoleCommand::PutSigned(name, value) => {
            let shown = format!("{}/{name}", client.local_peer_id());
            match client.put_signed(&name, value.into_bytes()).await {
                Ok((signed, receipt)) => format!(
                    "Put signed record {} (sequence {}; stored here and on {} other DHT server(s))",
                    quote(&shown),
                    signed.seq,
                    receipt.confirmations
                ),
                Err(e) => format!("PUT_SIGNED {} failed: {e}", quote(&shown)),
            }
        }
        ConsoleCommand::Get(key) => {
            match client.get(webkad_core::signed::parse_user_key(&key)).await {
                Ok(Some(found)) => {
                    let value = quote(&String::from_utf8_lossy(&found.value));
                    match found.signed_by {
                        Some(owner) => format!(
                            "Got record {} {value} (signed by {owner}, sequence {})",
                            quote(&key),
                            found.seq.unwrap_or_default()
                        ),
                        None => format!("Got record {} {value}", quote(&key)),
                    }
                }
                Ok(None) => format!("Record {} not found", quote(&key)),
                Err(e) => format!("GET {} failed: {e}", quote(&key)),
            }
        }
        ConsoleCommand::PutProvider(key) => {
            match client.start_providing(key.clone().into_bytes()).await {
                Ok(()) => format!("Providing {}", quote(&key)),
                Err(e) => format!("PUT_PROVIDER {} failed: {e}", quote(&key)),
            }
        }
        ConsoleCommand::GetProviders(key) => {
            match client.get_providers(key.clone().into_bytes()).await {
                Ok(p) if p.is_empty() => format!("No providers of {} found", quote(&key)),
                Ok(p) => {
                    let list: Vec<String> = p.iter().map(ToString::to_string).collect();
                    format!("Providers of {}: {}", quote(&key), list.join(", "))
                }
                Err(e) => format!("GET_PROVIDERS {} failed: {e}", quote(&key)),
            }
        }
        ConsoleCommand::Ping(target) => match client.ping(target).await {
            Ok((peer, rtt)) => format!("Pong from {peer}: {}", show_rtt(rtt)),
            Err(e) => format!("PING failed: {e}"),
        },
        ConsoleCommand::FindPeer(peer) => match client.find_peer(peer).await {
            Ok(addrs) => {
                let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                format!("Peer {peer} at: {}", list.join(", "))
            }
            Err(webkad_core::Error::NotFound) => format!("Peer {peer} not found"),
            Err(e) => format!("FIND_PEER failed: {e}"),
        },
        ConsoleCommand::Send(peer, text) => match client.send(peer, text.into_bytes()).await {
            Ok((_, rtt)) => format!("Delivered to {peer} in {}", show_rtt(rtt)),
            Err(e) => format!("SEND failed: {e}"),
        },
        ConsoleCommand::Sub(topic) => match client.join_room(topic.clone()).await {
            Ok(true) => format!("Joined room {}", quote(&topic)),
            Ok(false) => format!("Already in room {}", quote(&topic)),
            Err(e) => format!("SUB failed: {e}"),
        },
        ConsoleCommand::Unsub(topic) => match client.leave_room(topic.clone()).await {
            Ok(true) => format!("Left room {}", quote(&topic)),
            Ok(false) => format!("Not in room {}", quote(&topic)),
            Err(e) => format!("UNSUB failed: {e}"),
        },
        ConsoleCommand::Pub(topic, text) => {
            match client.publish(topic.clone(), text.into_bytes()).await {
                Ok(_) => format!("Posted in {}", quote(&topic)),
                Err(e) => format!("PUB failed: {e}"),
            }
        }
        ConsoleCommand::Rooms => match client.rooms().await {
            Ok(rooms) if rooms.is_empty() => "Not in any room".to_owned(),
            Ok(rooms) => rooms
                .iter()
                .map(|r| {
                    let peers: Vec<String> = r.peers.iter().map(ToString::to_string).collect();
                    format!(
                        "Room {}: {} peers {}",
                        quote(&r.topic),
                        peers.len(),
                        peers.join(", ")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => format!("ROOMS failed: {e}"),
        },
        ConsoleCommand::Discover(namespace) => {
            let shown = namespace
                .clone()
                .unwrap_or_else(|| webkad_core::config::BROWSER_NAMESPACE.to_owned());
            let asked = namespace.or_else(|| Some(shown.clone()));
            match client.discover(asked).await {
                Ok(peers) if peers.is_empty() => {
                    format!("No peers registered under {}", quote(&shown))
                }
                Ok(peers) => peers
                    .iter()
                    .map(|p| {
                        let reach = match (&p.transport, p.rtt_ms) {
                            (Some(t), Some(ms)) => format!("connected via {t}, {ms:.2} ms"),
                            (Some(t), None) => format!("connected via {t}"),
                            (None, _) => "not connected".to_owned(),
                        };
                        let addr = p.addrs.first().map_or(String::new(), ToString::to_string);
                        format!("Found {} at {addr} ({reach})", p.peer_id)
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
                Err(e) => format!("DISCOVER failed: {e}"),
            }
        }
        ConsoleCommand::Peers => match client.peers().await {
            Ok(peers) if peers.is_empty() => "No connected peers".to_owned(),
            Ok(peers) => peers
                .iter()
                .map(|p| {
                    let rtt = p.rtt_ms.map_or("-".to_owned(), |ms| format!("{ms:.2} ms"));
                    let addr = p.addrs.first().map_or(String::new(), ToString::to_string);
                    let agent = p.agent_version.as_deref().unwrap_or("?");
                    format!(
                        "{} {} {addr} rtt {rtt} agent {agent}",
                        p.peer_id, p.transport
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => format!("PEERS failed: {e}"),
        },
        ConsoleCommand::Addrs => match client.addresses().await {
            Ok(a) => {
                let mut lines = vec![format!("Peer id {}", a.peer_id)];
                lines.extend(a.listen.iter().map(|l| format!("Listening on {l}")));
                lines.extend(a.external.iter().map(|e| format!("Announcing {e}")));
                lines.join("\n")
            }
            Err(e) => format!("ADDRS failed: {e}"),
        },
        ConsoleCommand::Nat => match client.nat().await {
            Ok(nat) => crate::nat_report::render(&nat),
            Err(e) => format!("NAT failed: {e}"),
        },
        ConsoleCommand::Stats => match client.stats().await {
            Ok(stats) => crate::stats_text::summary(&stats),
            Err(e) => format!("STATS failed: {e}"),
        },
        ConsoleCommand::Help => HELP.to_owned(),
    }
}

/// Prints direct messages and posts in joined rooms as they arrive:
/// `Message from <peer>: <text>` and `[<room>] <peer>: <text>`.
pub async fn print_messages(client: Client) {
    use futures::StreamExt;
    let Ok(mut events) = client.subscribe().await else {
        return;
    };
    while let Some(event) = events.next().await {
        match event {
            webkad_core::Event::Message { peer, data, .. } => {
                println!("Message from {peer}: {}", String::from_utf8_lossy(&data));
            }
            webkad_core::Event::RoomMessage {
                topic, from, data, ..
            } => {
                println!("[{topic}] {from}: {}", String::from_utf8_lossy(&data));
            }
            _ => {}
        }
    }
}

/// Reads commands from stdin until it closes, printing each answer. A closed stdin ends the
/// console only; the node keeps serving.
pub async fn run_stdin(client: Client) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                let out = match parse(&line) {
                    Ok(Some(command)) => execute(&client, command).await,
                    Ok(None) => continue,
                    Err(usage) => usage,
                };
                println!("{out}");
            }
            Ok(None) => {
                tracing::info!("stdin closed; console off, node still serving");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read stdin; console off");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_classic_commands() {
        assert_eq!(
            parse("PUT k hello world"),
            Ok(Some(ConsoleCommand::Put("k".into(), "hello world".into())))
        );
        assert_eq!(parse("get k"), Ok(Some(ConsoleCommand::Get("k".into()))));
        assert_eq!(parse("  "), Ok(None));
        assert_eq!(parse("PEERS"), Ok(Some(ConsoleCommand::Peers)));
        assert_eq!(
            parse("pub lobby hi all"),
            Ok(Some(ConsoleCommand::Pub("lobby".into(), "hi all".into())))
        );
        assert_eq!(
            parse("SUB lobby"),
            Ok(Some(ConsoleCommand::Sub("lobby".into())))
        );
        assert_eq!(parse("DISCOVER"), Ok(Some(ConsoleCommand::Discover(None))));
        assert_eq!(parse("nat"), Ok(Some(ConsoleCommand::Nat)));
        let peer: PeerId = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
            .parse()
            .expect("peer id");
        assert_eq!(
            parse(&format!("SEND {peer} hello there")),
            Ok(Some(ConsoleCommand::Send(peer, "hello there".into())))
        );
    }

    #[test]
    fn parses_signed_puts() {
        assert_eq!(
            parse("PUT_SIGNED name a value"),
            Ok(Some(ConsoleCommand::PutSigned(
                "name".into(),
                "a value".into()
            )))
        );
        assert_eq!(
            parse("PUT_SIGNED name"),
            Err("PUT_SIGNED needs a name and a value".into())
        );
    }

    #[test]
    fn explains_bad_lines_in_one_line() {
        assert_eq!(parse("PUT k"), Err("PUT needs a key and a value".into()));
        assert_eq!(parse("GET"), Err("GET needs a key".into()));
        assert_eq!(parse("GET a b"), Err("GET takes only a key".into()));
        let unknown = parse("FROB x").expect_err("unknown");
        assert!(unknown.contains("unknown command \"FROB\""), "{unknown}");
        let bad = parse("PING /ip4/999.0.0.1/tcp/1").expect_err("bad addr");
        assert!(bad.contains("not a valid multiaddr"), "{bad}");
        assert_eq!(parse("SEND"), Err("SEND needs a peer id and a text".into()));
        assert!(
            parse("SEND nope hi")
                .expect_err("bad id")
                .contains("not a peer id")
        );
        assert_eq!(
            parse("PUB lobby"),
            Err("PUB needs a topic and a text".into())
        );
        assert!(
            parse("FIND_PEER nope")
                .expect_err("bad id")
                .contains("not a peer id")
        );
    }
}
