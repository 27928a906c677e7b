//! `webkad serve`: the bootstrap node an operator runs.

use std::time::Duration;

use webkad_core::behaviour::{ip_limits::IpLimitsConfig, rate_limit::RequestRate};
use webkad_core::{
    Client, Config, KadMode, NatConfig, RelayLimits, RendezvousConfig, RendezvousServerLimits,
    store::open::OnDamaged,
};

use crate::{
    cli::{KadModeArg, OnDamagedArg, ServeArgs},
    console,
    data_dir::default_data_dir,
    http,
    http_limits::HttpLimits,
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
        ..RelayLimits::default()
    };
    let mut config = Config {
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
        max_records: args.max_records,
        ip_limits: IpLimitsConfig {
            max_established: (args.max_connections_per_ip > 0)
                .then_some(args.max_connections_per_ip),
            max_pending: (args.max_pending_per_ip > 0).then_some(args.max_pending_per_ip),
        },
        request_rate: (args.requests_per_second > 0).then_some(RequestRate {
            per_second: args.requests_per_second,
            burst: args.request_burst,
        }),
        ..Config::bootstrap()
    };
    args.limits.apply(&mut config);
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
        http_limits: HttpLimits {
            max_connections: args.http_max_connections as usize,
            max_connections_per_ip: args.http_max_connections_per_ip as usize,
            header_timeout: Duration::from_secs(args.http_header_timeout),
            idle_timeout: Duration::from_secs(args.http_idle_timeout),
            fd_reserve: args.fd_reserve,
            ..HttpLimits::default()
        },
        web_dir: Some(args.web_dir.clone()),
        tls: args
            .tls_cert
            .clone()
            .zip(args.tls_key.clone())
            .map(|(cert, key)| node::TlsOptions {
                cert,
                key,
                https: args.https,
            }),
        tls_ca: None,
        // Pages fall back on the nodes this one joined through, and on those named for them.
        peer_bootstrap: args
            .peer_bootstrap
            .iter()
            .chain(
                args.bootstrap
                    .iter()
                    .filter(|a| webkad_core::addr::peer_id_of(a).is_some()),
            )
            .cloned()
            .collect(),
        on_damaged_store: match args.on_damaged_store {
            OnDamagedArg::Recover => OnDamaged::Recover,
            OnDamagedArg::Refuse => OnDamaged::Refuse,
        },
        identity: None,
    }
}

/// The Kademlia mode the flags ask for: `--kad-mode`, or server for a node that starts a
/// network and auto for one that joins through `--bootstrap` or reserves on a `--relay`.
pub fn kad_mode(args: &ServeArgs) -> KadMode {
    match args.kad_mode {
        Some(KadModeArg::Server) => KadMode::Server,
        Some(KadModeArg::Client) => KadMode::Client,
        Some(KadModeArg::Auto) => KadMode::Auto,
        None if args.bootstrap.is_empty() && args.relay.is_empty() => KadMode::Server,
        None => KadMode::Auto,
    }
}

/// Reserves a slot on each `--relay`; prints the circuit address peers reach this node at.
/// A relay that cannot be reached is a warning, like a bootstrap node: the node serves on,
/// and [`keep_reservations`] tries again.
async fn reserve_on_relays(client: &Client, relays: &[libp2p::Multiaddr]) {
    for relay in relays {
        match reserve(client, relay).await {
            Ok(circuit) => println!("Reachable through relay at {circuit}"),
            Err(error) => tracing::warn!(%relay, %error, "no relay reservation yet"),
        }
    }
}

async fn reserve(
    client: &Client,
    relay: &libp2p::Multiaddr,
) -> Result<libp2p::Multiaddr, webkad_core::Error> {
    client.dial(relay.clone()).await?;
    client.reserve(Some(relay.clone())).await
}

/// Takes a `--relay` reservation again when it is lost (the relay restarted, the connection
/// dropped), with a backoff from 1 s to 60 s; also retries relays that were down at start.
async fn keep_reservations(client: Client, relays: Vec<libp2p::Multiaddr>) {
    use futures::StreamExt;
    if relays.is_empty() {
        return;
    }
    let Ok(mut events) = client.subscribe().await else {
        return;
    };
    // A reservation is the relay's, whichever of its addresses the circuit address names.
    let reserved = |relay: &libp2p::Multiaddr, status: &webkad_core::nat::NatStatus| {
        let relay = webkad_core::addr::peer_id_of(relay);
        status
            .relayed_addrs
            .iter()
            .any(|a| webkad_core::addr::relay_of(a) == relay)
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        let Ok(status) = client.nat().await else {
            return;
        };
        let missing: Vec<_> = relays.iter().filter(|r| !reserved(r, &status)).collect();
        if missing.is_empty() {
            backoff = Duration::from_secs(1);
            // Wait for a reservation to be lost.
            loop {
                match events.next().await {
                    Some(webkad_core::Event::ReservationLost { relay, reason }) => {
                        tracing::info!(%relay, %reason, "relay reservation lost; taking it again");
                        break;
                    }
                    Some(_) => {}
                    None => return,
                }
            }
            continue;
        }
        tokio::time::sleep(backoff).await;
        for relay in missing {
            match reserve(&client, relay).await {
                Ok(circuit) => tracing::info!(%circuit, "relay reservation taken again"),
                Err(error) => tracing::debug!(%relay, %error, "relay reservation failed"),
            }
        }
        backoff = (backoff * 2).min(Duration::from_secs(60));
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
    tokio::spawn(keep_reservations(
        running.client.clone(),
        args.relay.clone(),
    ));
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
    if let Some(https) = running.https_addr {
        println!("HTTPS API on https://{https}/api/bootstrap");
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
