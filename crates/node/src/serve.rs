//! `webkad serve`: the bootstrap node an operator runs.

use std::time::Duration;

use webkad_core::{
    Client, Config, KadMode, NatConfig, RelayLimits, RendezvousConfig, RendezvousServerLimits,
};

use crate::{
    cli::{KadModeArg, ServeArgs},
    console,
    data_dir::default_data_dir,
    http,
    node::{self, NodeOptions, StartError},
    signal,
};

/// The node options that `webkad serve` flags describe.
pub fn options(args: &ServeArgs) -> NodeOptions {
    let relay = RelayLimits {
        max_reservations: args.relay_max_reservations,
        max_reservations_per_peer: args.relay_max_reservations_per_peer,
        reservation_duration: Duration::from_secs(args.relay_reservation_ttl),
        max_circuits: args.relay_max_circuits,
        max_circuits_per_peer: args.relay_max_circuits_per_peer,
        max_circuit_duration: Duration::from_secs(args.relay_circuit_duration),
        max_circuit_bytes: args.relay_circuit_bytes,
    };
    let config = Config {
        kad_protocol: args.kad_protocol.clone(),
        kad_mode: kad_mode(args),
        nat: NatConfig {
            mdns: args.mdns,
            upnp: args.upnp,
            ..NatConfig::native_node()
        },
        relay_server: Some(relay),
        rendezvous_server: Some(RendezvousServerLimits {
            min_ttl: Duration::from_secs(args.rendezvous_min_ttl),
            max_registrations: args.rendezvous_max_registrations,
            ..RendezvousServerLimits::default()
        }),
        rendezvous: args
            .register
            .as_deref()
            .map(RendezvousConfig::in_namespace)
            .unwrap_or_default(),
        ..Config::bootstrap()
    };
    NodeOptions {
        config,
        data_dir: if args.ephemeral {
            None
        } else {
            Some(args.data_dir.clone().unwrap_or_else(default_data_dir))
        },
        listen: if args.listen.is_empty() {
            NodeOptions::default_listen()
        } else {
            args.listen.clone()
        },
        announce: args.announce.clone(),
        bootstrap: args.bootstrap.clone(),
        http: (!args.no_http).then_some(args.http),
        web_dir: Some(args.web_dir.clone()),
    }
}

/// The Kademlia mode the flags ask for: `--kad-mode`, or server for a node that starts a
/// network and auto for one that joins through `--bootstrap`.
pub fn kad_mode(args: &ServeArgs) -> KadMode {
    match args.kad_mode {
        Some(KadModeArg::Server) => KadMode::Server,
        Some(KadModeArg::Client) => KadMode::Client,
        Some(KadModeArg::Auto) => KadMode::Auto,
        None if args.bootstrap.is_empty() => KadMode::Server,
        None => KadMode::Auto,
    }
}

/// Reserves a slot on each `--relay`; prints the circuit address peers reach this node at.
/// A relay that cannot be reached is a warning, like a bootstrap node: the node serves on.
async fn reserve_on_relays(client: &Client, relays: &[libp2p::Multiaddr]) {
    for relay in relays {
        if let Err(error) = client.dial(relay.clone()).await {
            tracing::warn!(%relay, %error, "relay unreachable; no reservation");
            continue;
        }
        match client.reserve(Some(relay.clone())).await {
            Ok(circuit) => println!("Reachable through relay at {circuit}"),
            Err(error) => tracing::warn!(%relay, %error, "relay reservation refused"),
        }
    }
}

/// Runs the node until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> Result<(), StartError> {
    let options = options(&args);
    if let Some(dir) = &options.data_dir {
        tracing::info!(data_dir = %dir.display(), "using data dir");
    }
    let running = node::start(options).await?;
    println!("Local peer id: {}", running.peer_id);
    for addr in &running.listen_addrs {
        println!("Listening on {addr}");
    }
    reserve_on_relays(&running.client, &args.relay).await;
    if let Some(http) = running.http_addr {
        println!("HTTP API on http://{http}/api/bootstrap");
        if http::has_page(&args.web_dir) {
            println!("Page on http://{http}/");
        } else {
            tracing::warn!(
                web_dir = %args.web_dir.display(),
                "the page is not built: run `cargo xtask build-web` (or `cargo xtask run`); / explains until it exists"
            );
        }
    }
    if !args.no_console {
        println!("Console ready: type HELP for commands");
        tokio::spawn(console::print_messages(running.client.clone()));
        tokio::spawn(console::run_stdin(running.client.clone()));
    }
    signal::shutdown_requested().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    println!("Stopped");
    Ok(())
}
