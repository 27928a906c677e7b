//! The command line: `webkad serve` for the bootstrap node, one-shot client commands for
//! scripts and users.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use libp2p::Multiaddr;

/// webkad: a Kademlia DHT node whose peers include web pages.
#[derive(Debug, Parser)]
#[command(name = "webkad", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a bootstrap node: DHT server, circuit relay, HTTP API, and a console on stdin.
    Serve(Box<ServeArgs>),
    /// Store VALUE under KEY in the DHT, then exit. Succeeds (exit 0) only when the
    /// bootstrap node confirmed the record durably stored, and at least --quorum DHT
    /// servers in all did.
    Put {
        /// The key (its UTF-8 bytes are the DHT key); with --signed, the name of this
        /// node's signed record.
        key: String,
        /// The value (its UTF-8 bytes are stored).
        value: String,
        /// Store an owner-signed record `/webkad/pk/<peer-id>/<name>` that only this node's
        /// identity (the key in --data-dir) can change; read it with `webkad get
        /// <peer-id>/<name>`.
        #[arg(long)]
        signed: bool,
        /// With --signed: the data dir whose identity key signs (only the key is read, so a
        /// node may be serving from it). Default: $XDG_DATA_HOME/webkad (or
        /// ~/.local/share/webkad).
        #[arg(long, value_name = "PATH", requires = "signed")]
        data_dir: Option<PathBuf>,
        /// DHT servers that must confirm the record, the bootstrap node counted.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=20))]
        quorum: u16,
        /// How to join the network.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print the value stored under KEY (exit 1 when not found).
    Get {
        /// The key; `<peer-id>/<name>` reads that peer's signed record, whose signature is
        /// checked (copies that fail are discarded).
        key: String,
        /// How to join the network.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Announce this process as a provider of KEY and keep running until interrupted:
    /// a provider must stay online, since provider records point at it. It serves the DHT
    /// for peer routing but stores no records for others (they would leave with it).
    Provide {
        /// The key.
        key: String,
        /// How to join the network.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print the peers that provide KEY, one per line (exit 1 when none).
    Providers {
        /// The key.
        key: String,
        /// How to join the network.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print the addresses of a peer, found through the DHT (exit 1 when not found).
    FindPeer {
        /// The peer id.
        peer_id: libp2p::PeerId,
        /// How to join the network.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Send a direct message to a peer (a page is reached through the bootstrap node's
    /// relay) and print the round trip of its acknowledgement.
    Send {
        /// The peer id.
        peer_id: libp2p::PeerId,
        /// The message (its UTF-8 bytes are sent).
        text: String,
        /// How to join the network.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Post TEXT in the room TOPIC (gossipsub), then exit.
    Pub {
        /// The room.
        topic: String,
        /// The message.
        text: String,
        /// How to join the network.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Ping a peer (by multiaddr, or by peer id through the DHT) and print the round trip.
    Ping {
        /// A multiaddr (ideally ending in /p2p/<id>) or a peer id.
        target: String,
        /// How to join the network.
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// Flags shared by every one-shot command.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// A node to join through (repeatable), e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo...
    #[arg(
        long = "bootstrap",
        value_name = "MULTIADDR",
        env = "WEBKAD_BOOTSTRAP",
        value_delimiter = ',',
        value_parser = bootstrap_addr
    )]
    pub bootstrap: Vec<Multiaddr>,
    /// Print JSON instead of plain text.
    #[arg(long)]
    pub json: bool,
    /// Kademlia protocol name; use /ipfs/kad/1.0.0 for IPFS-compatible networks.
    #[arg(long, value_name = "PROTOCOL", default_value = webkad_core::config::DEFAULT_KAD_PROTOCOL)]
    pub kad_protocol: String,
    /// Also trust the certificate authorities in FILE (PEM) when dialing `/tls/ws`, besides
    /// the public ones: for nodes whose certificate a private CA signed (tests make one).
    /// Dial such nodes by IP address or add /tls/sni/<name>: the name of a /dns4 address
    /// is resolved before this dialer sees it.
    #[arg(long, value_name = "FILE", env = "WEBKAD_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Where this process listens (repeatable; only `provide` needs it, since provider
    /// records point at it). Default: 127.0.0.1 on a free TCP port and a free WebSocket port.
    #[arg(long = "listen", value_name = "MULTIADDR")]
    pub listen: Vec<Multiaddr>,
}

/// Kademlia mode on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KadModeArg {
    /// Answer DHT queries and store records for others (bootstrap nodes).
    Server,
    /// Only query the DHT.
    Client,
    /// Client until AutoNAT (or a UPnP mapping) confirms a direct external address, then
    /// server; back to client when it expires.
    Auto,
}

/// `--on-damaged-store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnDamagedArg {
    /// Move the damaged file aside and start with the intact entries.
    Recover,
    /// Do not start.
    Refuse,
}

/// A relay address: it must name the relay (`…/p2p/<relay id>`).
pub fn relay_addr(arg: &str) -> Result<Multiaddr, String> {
    let addr = bootstrap_addr(arg)?;
    match addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(_)) => Ok(addr),
        _ => Err(format!(
            "{arg:?} must end in /p2p/<relay peer id>, e.g. /ip4/198.51.100.7/udp/4001/quic-v1/p2p/12D3Koo..."
        )),
    }
}

/// Another server node's address: it must name the node (`…/p2p/<id>`).
pub fn server_addr(arg: &str) -> Result<Multiaddr, String> {
    let addr = bootstrap_addr(arg)?;
    match addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(_)) => Ok(addr),
        _ => Err(format!(
            "{arg:?} must end in /p2p/<peer id>, e.g. /dns4/node2.example.org/tcp/443/tls/ws/p2p/12D3Koo..."
        )),
    }
}

/// A node to join through: a multiaddr that names a host (an empty one, or a DNS
/// component without a name, is a usage error rather than a node that cannot be reached).
pub fn bootstrap_addr(arg: &str) -> Result<Multiaddr, String> {
    use libp2p::multiaddr::Protocol;
    let addr: Multiaddr = arg
        .parse()
        .map_err(|e| format!("{arg:?} is not a valid multiaddr: {e}"))?;
    let empty_name = addr.iter().any(|p| match p {
        Protocol::Dns(name)
        | Protocol::Dns4(name)
        | Protocol::Dns6(name)
        | Protocol::Dnsaddr(name) => name.is_empty(),
        _ => false,
    });
    if addr.is_empty() {
        Err(
            "an empty multiaddr names no node, e.g. /ip4/198.51.100.7/tcp/4001/p2p/12D3Koo..."
                .to_owned(),
        )
    } else if empty_name {
        Err(format!(
            "{arg:?} has a DNS component without a name, e.g. /dns4/example.org/tcp/4001"
        ))
    } else {
        Ok(addr)
    }
}

/// Flags of `webkad serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML file of settings whose keys are these flags' long names (`max-connections =
    /// 4096`, `listen = ["/ip4/0.0.0.0/tcp/4001"]`, `mdns = true`); a flag given here wins.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen address (repeatable). Default: 127.0.0.1 on TCP 4001, QUIC 4001,
    /// WebSocket 4002 and WebRTC-direct 4002.
    #[arg(long = "listen", value_name = "MULTIADDR")]
    pub listen: Vec<Multiaddr>,
    /// Public address to announce instead of the listen addresses (repeatable).
    #[arg(long = "announce", value_name = "MULTIADDR")]
    pub announce: Vec<Multiaddr>,
    /// A node of an existing network to join (repeatable); /dns4, /dns6 and /dnsaddr resolve.
    #[arg(long = "bootstrap", value_name = "MULTIADDR", value_parser = bootstrap_addr)]
    pub bootstrap: Vec<Multiaddr>,
    /// Another server node of this network that `/api/bootstrap` lists (repeatable; ending
    /// in /p2p/<id>, ideally an address a browser can dial: /tls/ws, /ws or webrtc-direct),
    /// so that pages served here rejoin through it when this node goes away. The --bootstrap
    /// nodes are listed too; 16 at most.
    #[arg(long = "peer-bootstrap", value_name = "MULTIADDR", value_parser = server_addr)]
    pub peer_bootstrap: Vec<Multiaddr>,
    /// Where the identity key, the WebRTC certificate and the records live.
    /// Default: $XDG_DATA_HOME/webkad (or ~/.local/share/webkad).
    #[arg(long, value_name = "DIR", conflicts_with = "ephemeral")]
    pub data_dir: Option<PathBuf>,
    /// Keep nothing on disk: a new identity, certificate and empty store each start.
    #[arg(long)]
    pub ephemeral: bool,
    /// HTTP address for the page (/), the API (/api/bootstrap, /api/stats, /healthz) and Prometheus metrics (/metrics).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// HTTP: connections open at once; at the cap the oldest idle one is closed for a new one.
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub http_max_connections: u32,
    /// HTTP: connections open at once from one IP address.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub http_max_connections_per_ip: u32,
    /// HTTP: seconds a request's head may take, counted from the connection's start or the
    /// previous response (so also how long a keep-alive connection may sit idle).
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_header_timeout: u64,
    /// HTTP: seconds a connection may make no progress while a request is answered.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_idle_timeout: u64,
    /// File descriptors kept free for the node's own work; with fewer left, HTTP connections
    /// are shed.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub fd_reserve: u64,
    /// Run no HTTP server.
    #[arg(long, conflicts_with = "http")]
    pub no_http: bool,
    /// libp2p: established inbound connections from one IP address (0: no limit). A NAT
    /// full of browsers shares one address; relayed connections are not counted.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_connections_per_ip: u32,
    /// libp2p: inbound connections from one IP address still in their security handshake
    /// (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub max_pending_per_ip: u32,
    /// Inbound Kademlia requests, and separately direct messages, one peer may make per
    /// second on average (0: no limit); the excess is refused, the peer keeps its connection.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub requests_per_second: u32,
    /// How many requests over --requests-per-second one peer may make at once.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub request_burst: u32,
    /// The built page to serve at / (what `cargo xtask build-web` writes).
    #[arg(long, value_name = "DIR", default_value = "dist")]
    pub web_dir: PathBuf,
    /// Do not read commands from stdin.
    #[arg(long)]
    pub no_console: bool,
    /// Kademlia protocol name; use /ipfs/kad/1.0.0 for IPFS-compatible networks.
    #[arg(long, value_name = "PROTOCOL", default_value = webkad_core::config::DEFAULT_KAD_PROTOCOL)]
    pub kad_protocol: String,
    /// Kademlia mode. Default: server for a node that starts a network (no --bootstrap: the
    /// bootstrap node keeps serving), auto for one that joins through --bootstrap or a
    /// --relay (serves once AutoNAT or UPnP proves it reachable).
    #[arg(long, value_enum)]
    pub kad_mode: Option<KadModeArg>,
    /// Find peers on the local network by multicast DNS and add them to the DHT (PUT and GET
    /// work between LAN nodes with no --bootstrap). Off by default: a server's peers are not
    /// on its LAN, and mDNS advertises the node's addresses to every host on each of its
    /// network segments.
    #[arg(long)]
    pub mdns: bool,
    /// Ask the gateway to forward the listen ports (UPnP IGD); the mappings become external
    /// addresses and are removed on shutdown. Off by default: it opens ports on a router,
    /// which is the operator's choice, and a server has a public address of its own. Listen
    /// on the LAN address (not 0.0.0.0) so that the right one is mapped.
    #[arg(long)]
    pub upnp: bool,
    /// Reserve a slot on this circuit relay (repeatable; the address ends in /p2p/<relay
    /// id>): behind a NAT, peers then reach this node at <relay>/p2p-circuit/p2p/<id>, and
    /// such connections are upgraded to direct ones by hole punching (DCUtR) where both NATs
    /// allow it.
    #[arg(long = "relay", value_name = "MULTIADDR", value_parser = relay_addr)]
    pub relay: Vec<Multiaddr>,
    /// Relay: reservations held at once over all peers.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub relay_max_reservations: usize,
    /// Relay: reservations one peer may hold.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub relay_max_reservations_per_peer: usize,
    /// Relay: how long a reservation lasts, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub relay_reservation_ttl: u64,
    /// Relay: circuits open at once over all peers.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub relay_max_circuits: usize,
    /// Relay: circuits one peer may have open.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub relay_max_circuits_per_peer: usize,
    /// Relay: how long one circuit may stay open, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 1800)]
    pub relay_circuit_duration: u64,
    /// Relay: bytes one circuit may carry.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    pub relay_circuit_bytes: u64,
    /// Rendezvous server: the shortest registration TTL accepted, in seconds (pages
    /// register for 60 s and refresh, so a closed page is soon forgotten).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub rendezvous_min_ttl: u64,
    /// Rendezvous server: registrations held at once over all peers.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub rendezvous_max_registrations: usize,
    /// Records (keys) this node stores at most, its own and others'; a PUT of a new key
    /// beyond it is refused with the limit in the error.
    #[arg(long, value_name = "N", default_value_t = webkad_core::config::DEFAULT_MAX_RECORDS)]
    pub max_records: usize,
    /// What to do when the record store file is damaged (entries failing their checksum, a
    /// file the database cannot open, an empty file in a used data dir): `recover` moves
    /// it aside to store.redb.damaged-<unix time> and starts with every intact entry;
    /// `refuse` does not start.
    #[arg(long, value_enum, value_name = "POLICY", default_value = "recover")]
    pub on_damaged_store: OnDamagedArg,
    /// TLS certificate chain, PEM (Let's Encrypt's fullchain.pem), for --https and `/tls/ws`
    /// listen addresses (WSS). Re-read on SIGHUP and when the file changes.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key, PEM (Let's Encrypt's privkey.pem).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// HTTPS address for the page and API (needs --tls-cert and --tls-key), e.g. 0.0.0.0:443.
    #[arg(long, value_name = "ADDR", requires = "tls_cert")]
    pub https: Option<SocketAddr>,
    /// Connection, record, room, relay-rate and rendezvous limits.
    #[command(flatten)]
    pub limits: crate::limit_args::LimitArgs,
    /// Register this node under NAMESPACE at the rendezvous servers it connects to (those
    /// of --bootstrap nodes) and discover the peers there, e.g. webkad-browsers to be
    /// listed among the pages.
    #[arg(long, value_name = "NAMESPACE")]
    pub register: Option<String>,
}
