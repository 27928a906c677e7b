//! The mux on real loopback sockets.

use std::net::{IpAddr, Ipv4Addr, UdpSocket as StdSocket};

use super::*;

fn limits() -> Limits {
    Limits {
        max_pending: 16,
        max_pending_per_ip: 4,
        handshake_timeout: Duration::from_secs(2),
    }
}

fn spray(from: &StdSocket, to: SocketAddr, count: usize, tag: &str) {
    for i in 0..count {
        let ufrag = format!("libp2p+webrtc+v1/{tag}{i:04}abcdefghijklmnopqrstuvwxyz");
        let request = stun::binding_request(&format!("{ufrag}:{ufrag}"), [i as u8; 12]);
        from.send_to(&request, to).expect("send");
    }
}

fn pending_from(mux: &UdpMux, ip: Ipv4Addr) -> usize {
    let state = mux.state.lock().expect("mux lock");
    let ip = IpAddr::V4(ip);
    state.pending.values().filter(|p| p.from.ip() == ip).count()
}

async fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

#[tokio::test]
async fn a_spray_of_fresh_ufrags_is_bounded_per_ip_and_in_total_and_expires() {
    let (mux, mut attempts) =
        UdpMux::bind((Ipv4Addr::LOCALHOST, 0).into(), limits()).expect("bind");
    let to = mux.local_addr();
    // The listener takes every attempt as it comes (and here only counts them).
    let announced = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn({
        let announced = announced.clone();
        async move {
            while attempts.recv().await.is_some() {
                announced.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    // 1,100 fresh ufrags from one address, then from eight more loopback IPs.
    let one = StdSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    spray(&one, to, 1_100, "a");
    assert!(wait_until(|| mux.pending() == 4).await, "{}", mux.pending());
    for host in 2..10u8 {
        let other = StdSocket::bind((Ipv4Addr::new(127, 0, 0, host), 0)).expect("bind");
        spray(&other, to, 50, &format!("h{host}x"));
        // Let the mux read them before the socket's receive buffer overflows.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        wait_until(|| mux.pending() == 16).await,
        "{}",
        mux.pending()
    );
    // No IP holds more than the per-IP bound, and the last sprayer, arriving when the
    // total bound was full, still got in (the busiest IPs made room).
    let shares: Vec<usize> = (1..10u8)
        .map(|host| pending_from(&mux, Ipv4Addr::new(127, 0, 0, host)))
        .collect();
    assert!(shares.iter().all(|share| *share <= 4), "{shares:?}");
    assert!(shares[8] >= 1, "{shares:?}");
    let announced = announced.load(std::sync::atomic::Ordering::Relaxed);
    assert!(announced >= 16, "{announced}");
    // Nobody answers the attempts: they are gone after the handshake timeout.
    assert!(wait_until(|| mux.pending() == 0).await, "{}", mux.pending());
    assert_eq!(mux.connections(), 0);
    // And the slots are free again.
    spray(&one, to, 1, "again");
    assert!(wait_until(|| mux.pending() == 1).await);
}

#[tokio::test]
async fn the_first_binding_request_reaches_the_agent_that_takes_the_ufrag() {
    let (mux, mut attempts) =
        UdpMux::bind((Ipv4Addr::LOCALHOST, 0).into(), Limits::default()).expect("bind");
    let browser = StdSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let server = "libp2p+webrtc+v2/abcdefghijklmnopqrstuvwxyz";
    let request = stun::binding_request(&format!("{server}:cli1"), [7; 12]);
    browser.send_to(&request, mux.local_addr()).expect("send");
    let attempt = tokio::time::timeout(Duration::from_secs(5), attempts.recv())
        .await
        .expect("in time")
        .expect("attempt");
    assert_eq!(attempt.from, browser.local_addr().expect("addr"));
    assert_eq!(attempt.credentials.local, server);
    assert_eq!(attempt.credentials.remote_ufrag, "cli1");
    let conn = mux.clone().get_conn(server).await.expect("conn");
    let mut buffer = [0u8; 1500];
    let (len, from) = tokio::time::timeout(Duration::from_secs(5), conn.recv_from(&mut buffer))
        .await
        .expect("in time")
        .expect("replayed");
    assert_eq!(&buffer[..len], &request[..]);
    assert_eq!(from, attempt.from);
    mux.established(server);
    assert_eq!(mux.pending(), 0);
    mux.remove_conn_by_ufrag(server).await;
    assert_eq!(mux.connections(), 0);
}

#[tokio::test]
async fn a_full_bound_makes_room_for_a_quieter_ip() {
    let (mux, mut attempts) =
        UdpMux::bind((Ipv4Addr::LOCALHOST, 0).into(), limits()).expect("bind");
    // The listener takes every attempt as it comes.
    tokio::spawn(async move { while attempts.recv().await.is_some() {} });
    let to = mux.local_addr();
    // Four spraying IPs fill all sixteen slots.
    for host in 2..6u8 {
        let sprayer = StdSocket::bind((Ipv4Addr::new(127, 0, 0, host), 0)).expect("bind");
        spray(&sprayer, to, 20, &format!("s{host}x"));
    }
    assert!(
        wait_until(|| mux.pending() == 16).await,
        "{}",
        mux.pending()
    );
    let before = SHED.counts()[3].1;
    // A browser's single attempt still gets a slot, and one sprayed attempt gave it up.
    let browser = StdSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    spray(&browser, to, 1, "browser");
    assert!(
        wait_until(|| pending_from(&mux, Ipv4Addr::LOCALHOST) == 1).await,
        "the browser's attempt was refused"
    );
    assert_eq!(mux.pending(), 16);
    assert!(SHED.counts()[3].1 > before);
}

/// Connects `ufrag` from `client` the way the listener does: an attempt, its agent's conn,
/// the address registered; `established` finishes the handshake.
async fn connect(
    mux: &Arc<UdpMux>,
    client: &StdSocket,
    ufrag: &str,
    established: bool,
) -> UDPMuxConn {
    let request = stun::binding_request(&format!("{ufrag}:{ufrag}"), [1; 12]);
    client.send_to(&request, mux.local_addr()).expect("send");
    assert!(wait_until(|| mux.state.lock().expect("lock").pending.contains_key(ufrag)).await);
    mux.clone().get_conn(ufrag).await.expect("conn");
    let conn = mux.state.lock().expect("lock").conns[ufrag].clone();
    mux.register_conn_for_address(&conn, client.local_addr().expect("addr"))
        .await;
    if established {
        mux.established(ufrag);
    }
    conn
}

fn route_of(mux: &UdpMux, client: &StdSocket) -> Option<String> {
    let state = mux.state.lock().expect("lock");
    let addr = client.local_addr().expect("addr");
    state.routes.get(&addr).map(|conn| conn.key().to_owned())
}

#[tokio::test]
async fn a_retry_from_the_same_socket_takes_over_a_hung_attempt_only() {
    let (mux, mut attempts) =
        UdpMux::bind((Ipv4Addr::LOCALHOST, 0).into(), Limits::default()).expect("bind");
    tokio::spawn(async move { while attempts.recv().await.is_some() {} });
    let client = StdSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let hung = "libp2p+webrtc+v1/hungabcdefghijklmnopqrstuvwxyz";
    let retry = "libp2p+webrtc+v1/retryabcdefghijklmnopqrstuvwxyz";
    connect(&mux, &client, hung, false).await;
    // The retry's Binding request comes from the routed address, and still is an attempt.
    connect(&mux, &client, retry, true).await;
    assert_eq!(route_of(&mux, &client).as_deref(), Some(retry));

    // A fresh ufrag from an established connection's address (a spoofed packet, say) gets
    // an attempt of its own but not the connection's packets.
    let spoof = "libp2p+webrtc+v1/spoofabcdefghijklmnopqrstuvwxyz";
    connect(&mux, &client, spoof, false).await;
    assert_eq!(route_of(&mux, &client).as_deref(), Some(retry));
}
