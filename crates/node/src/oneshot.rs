//! One-shot client commands: join through `--bootstrap`, do one thing, print, exit.
//!
//! Plain output by default (`webkad get` prints the value alone), JSON with `--json`.
//! Exit codes: 0 success, 1 not found or failed, 2 bad usage.

use std::process::ExitCode;

use libp2p::{Multiaddr, PeerId};
use serde_json::json;
use webkad_core::{Client, Config, KadMode, PingTarget, addr};

use crate::{
    cli::{ClientArgs, Command},
    console::parse_ping_target,
    node::{self, NodeOptions, RunningNode},
    output::{millis, show_rtt},
};

/// Exit code for "not found" and failures.
pub const FAILED: u8 = 1;
/// Exit code for bad usage.
pub const USAGE: u8 = 2;

/// What a one-shot command produced: plain text and JSON, or an error.
struct Outcome {
    ok: bool,
    plain: String,
    json: serde_json::Value,
    /// A line for stderr beside plain output (stdout stays the bare result).
    note: Option<String>,
}

impl Outcome {
    fn ok(plain: String, json: serde_json::Value) -> Self {
        Self {
            ok: true,
            plain,
            json,
            note: None,
        }
    }

    fn fail(message: String) -> Self {
        Self {
            ok: false,
            json: json!({ "error": message }),
            plain: message,
            note: None,
        }
    }
}

/// Runs a one-shot command and returns the process exit code.
pub async fn run(command: Command) -> ExitCode {
    let identity = match signing_identity(&command) {
        Ok(identity) => identity,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(FAILED);
        }
    };
    let (args, action) = match split(command) {
        Ok(split) => split,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(USAGE);
        }
    };
    let json = args.json;
    let outcome = match start_client(&args, &action, identity).await {
        Ok(node) => {
            let outcome = perform(&node.client, &args.bootstrap, action).await;
            node.shutdown().await;
            outcome
        }
        Err(message) => Outcome::fail(message),
    };
    match (outcome.ok, json) {
        (_, true) => println!("{}", outcome.json),
        (true, false) => {
            println!("{}", outcome.plain);
            if let Some(note) = &outcome.note {
                eprintln!("{note}");
            }
        }
        (false, false) => eprintln!("{}", outcome.plain),
    }
    if outcome.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILED)
    }
}

/// The one thing a one-shot command does.
enum Action {
    Put(String, String, usize),
    PutSigned(String, String, usize),
    Get(String),
    Provide(String),
    Providers(String),
    FindPeer(PeerId),
    Ping(PingTarget),
    Send(PeerId, String),
    Pub(String, String),
}

fn split(command: Command) -> Result<(ClientArgs, Action), String> {
    let (args, action) = match command {
        Command::Put {
            key,
            value,
            quorum,
            signed: false,
            client,
            ..
        } => (client, Action::Put(key, value, usize::from(quorum))),
        Command::Put {
            key,
            value,
            quorum,
            signed: true,
            client,
            ..
        } => (client, Action::PutSigned(key, value, usize::from(quorum))),
        Command::Get { key, client } => (client, Action::Get(key)),
        Command::Provide { key, client } => (client, Action::Provide(key)),
        Command::Providers { key, client } => (client, Action::Providers(key)),
        Command::FindPeer { peer_id, client } => (client, Action::FindPeer(peer_id)),
        Command::Ping { target, client } => (client, Action::Ping(parse_ping_target(&target)?)),
        Command::Send {
            peer_id,
            text,
            client,
        } => (client, Action::Send(peer_id, text)),
        Command::Pub {
            topic,
            text,
            client,
        } => (client, Action::Pub(topic, text)),
        Command::Serve(_) => unreachable!("serve is not a one-shot command"),
    };
    let needs_bootstrap = !matches!(action, Action::Ping(PingTarget::Addr(_)));
    if needs_bootstrap && args.bootstrap.is_empty() {
        return Err("this command needs --bootstrap <MULTIADDR> (or WEBKAD_BOOTSTRAP)".to_owned());
    }
    Ok((args, action))
}

/// The data dir's identity key, for `put --signed` (only the key file is read: a node may
/// be serving from that data dir and holds its store's lock).
fn signing_identity(command: &Command) -> Result<Option<libp2p::identity::Keypair>, String> {
    let Command::Put {
        signed: true,
        data_dir,
        ..
    } = command
    else {
        return Ok(None);
    };
    let path = data_dir
        .clone()
        .unwrap_or_else(crate::data_dir::default_data_dir);
    let dir = crate::data_dir::DataDir::open(&path).map_err(|e| e.to_string())?;
    dir.identity().map(Some).map_err(|e| e.to_string())
}

async fn start_client(
    args: &ClientArgs,
    action: &Action,
    identity: Option<libp2p::identity::Keypair>,
) -> Result<RunningNode, String> {
    let listen: Vec<Multiaddr> = match (action, args.listen.is_empty()) {
        (Action::Provide(_), true) => ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0/ws"]
            .iter()
            .map(|a| a.parse().expect("valid address"))
            .collect(),
        _ => args.listen.clone(),
    };
    let options = NodeOptions {
        config: Config {
            kad_protocol: args.kad_protocol.clone(),
            // A provider serves the DHT so that peer routing finds it (find-peer, ping
            // by id: clients are in nobody's routing table), but it stays online only
            // while its operator keeps it running, and a server that leaves takes the
            // records others put on it (issue 12). So it holds none: with a record limit
            // of 0 its store refuses every PUT_VALUE, kad resets the stream, and no
            // put's acknowledgement rests on it. The other commands are clients.
            kad_mode: match action {
                Action::Provide(_) => KadMode::Server,
                _ => KadMode::Client,
            },
            max_records: match action {
                Action::Provide(_) => 0,
                _ => Config::default().max_records,
            },
            ..Config::default()
        },
        data_dir: None,
        listen,
        announce: Vec::new(),
        bootstrap: Vec::new(),
        http: None,
        http_limits: Default::default(),
        web_dir: None,
        tls: None,
        tls_ca: args.tls_ca.clone(),
        peer_bootstrap: Vec::new(),
        on_damaged_store: Default::default(),
        identity,
    };
    let node = node::start(options).await.map_err(|e| e.to_string())?;
    if !args.bootstrap.is_empty() && node::join(&node.client, &args.bootstrap).await == 0 {
        node.shutdown().await;
        return Err("could not reach any bootstrap node".to_owned());
    }
    Ok(node)
}

async fn perform(client: &Client, bootstrap: &[Multiaddr], action: Action) -> Outcome {
    match action {
        Action::Put(key, value, quorum) => {
            match crate::oneshot_put::put(client, bootstrap, key, value, quorum).await {
                Ok((plain, json)) => Outcome::ok(plain, json),
                Err(message) => Outcome::fail(message),
            }
        }
        Action::PutSigned(name, value, quorum) => {
            match crate::oneshot_put::put_signed(client, bootstrap, name, value, quorum).await {
                Ok((plain, json)) => Outcome::ok(plain, json),
                Err(message) => Outcome::fail(message),
            }
        }
        Action::Get(key) => match client.get(webkad_core::signed::parse_user_key(&key)).await {
            Ok(Some(found)) => {
                let value = String::from_utf8_lossy(&found.value).into_owned();
                let from = found.from.map(|p| p.to_string());
                let signed_by = found.signed_by.map(|p| p.to_string());
                let mut outcome = Outcome::ok(
                    value.clone(),
                    json!({ "key": key, "value": value, "from": from,
                            "signed_by": signed_by, "seq": found.seq }),
                );
                outcome.note = signed_by.map(|owner| {
                    format!(
                        "signed by {owner} (sequence {})",
                        found.seq.unwrap_or_default()
                    )
                });
                outcome
            }
            Ok(None) => Outcome::fail("not found".to_owned()),
            Err(e) => Outcome::fail(e.to_string()),
        },
        Action::Provide(key) => provide(client, key).await,
        Action::Providers(key) => match client.get_providers(key.clone().into_bytes()).await {
            Ok(providers) if providers.is_empty() => Outcome::fail("not found".to_owned()),
            Ok(providers) => {
                let list: Vec<String> = providers.iter().map(ToString::to_string).collect();
                Outcome::ok(list.join("\n"), json!({ "key": key, "providers": list }))
            }
            Err(e) => Outcome::fail(e.to_string()),
        },
        Action::FindPeer(peer) => match client.find_peer(peer).await {
            Ok(addrs) => {
                let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                Outcome::ok(
                    list.join("\n"),
                    json!({ "peer_id": peer.to_string(), "addrs": list }),
                )
            }
            Err(webkad_core::Error::NotFound) => Outcome::fail("not found".to_owned()),
            Err(e) => Outcome::fail(e.to_string()),
        },
        Action::Ping(target) => ping(client, target).await,
        Action::Send(peer, text) => match client.send(peer, text.clone().into_bytes()).await {
            Ok((_, rtt)) => Outcome::ok(
                format!("delivered to {peer} in {}", show_rtt(rtt)),
                json!({ "peer_id": peer.to_string(), "delivered": true, "rtt_ms": millis(rtt) }),
            ),
            Err(e) => Outcome::fail(e.to_string()),
        },
        Action::Pub(topic, text) => publish(client, topic, text).await,
    }
}

/// How long `webkad pub` waits for another peer in the room.
const ROOM_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long `webkad pub` stays connected after posting, so the post leaves before the
/// connection closes (gossipsub has no acknowledgement to wait for).
const PUB_LINGER: std::time::Duration = std::time::Duration::from_millis(500);

/// Joins the room, waits until another peer (at least the bootstrap node, which relays
/// every room) is known in it, posts, and lets the post leave.
async fn publish(client: &Client, topic: String, text: String) -> Outcome {
    let joined = async {
        use futures::StreamExt;
        let mut events = client.subscribe().await?;
        client.join_room(topic.clone()).await?;
        let rooms = client.rooms().await?;
        if rooms
            .iter()
            .any(|r| r.topic == topic && !r.peers.is_empty())
        {
            return Ok::<(), webkad_core::Error>(());
        }
        while let Some(event) = events.next().await {
            if matches!(&event, webkad_core::Event::RoomPeerJoined { topic: t, .. } if *t == topic)
            {
                return Ok(());
            }
        }
        Err(webkad_core::Error::Stopped)
    };
    match tokio::time::timeout(ROOM_WAIT, joined).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Outcome::fail(e.to_string()),
        Err(_) => return Outcome::fail(webkad_core::Error::EmptyRoom(topic).to_string()),
    }
    match client.publish(topic.clone(), text.into_bytes()).await {
        Ok(id) => {
            tokio::time::sleep(PUB_LINGER).await;
            Outcome::ok(
                format!("posted in {topic:?}"),
                json!({ "topic": topic, "id": id }),
            )
        }
        Err(e) => Outcome::fail(e.to_string()),
    }
}

/// Announces the key, prints that it did, and stays online until interrupted.
async fn provide(client: &Client, key: String) -> Outcome {
    if let Err(e) = client.start_providing(key.clone().into_bytes()).await {
        return Outcome::fail(e.to_string());
    }
    println!(
        "providing {key:?} as {}; press Ctrl-C to stop",
        client.local_peer_id()
    );
    crate::signal::shutdown_requested().await;
    Outcome::ok(
        format!("stopped providing {key:?}"),
        json!({ "key": key, "provided": true }),
    )
}

async fn ping(client: &Client, target: PingTarget) -> Outcome {
    let result = match target {
        PingTarget::Addr(addr) => client.ping(PingTarget::Addr(addr)).await,
        PingTarget::Peer(peer) => match client.find_peer(peer).await {
            Ok(addrs) => {
                let mut last = Err(webkad_core::Error::NotFound);
                for a in addrs {
                    last = client
                        .ping(PingTarget::Addr(addr::with_peer_id(&a, peer)))
                        .await;
                    if last.is_ok() {
                        break;
                    }
                }
                last
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok((peer, rtt)) => Outcome::ok(
            format!("pong from {peer}: {}", show_rtt(rtt)),
            json!({ "peer_id": peer.to_string(), "rtt_ms": millis(rtt) }),
        ),
        Err(e) => Outcome::fail(e.to_string()),
    }
}
