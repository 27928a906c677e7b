//! The mux on real loopback sockets.

use std::net::{Ipv4Addr, UdpSocket as StdSocket};

use super::*;

fn limits() -> Limits {
    Limits {
        max_pending: 16,
        max_pending_per_ip: 4,
        handshake_timeout: Duration::from_secs(1),
    }
}

fn spray(from: &StdSocket, to: SocketAddr, count: usize, tag: &str) {
    for i in 0..count {
        let ufrag = format!("libp2p+webrtc+v1/{tag}{i:04}abcdefghijklmnopqrstuvwxyz");
        let request = stun::binding_request(&format!("{ufrag}:{ufrag}"), [i as u8; 12]);
        from.send_to(&request, to).expect("send");
    }
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
    // 1,100 fresh ufrags from one address, then from eight more loopback IPs.
    let one = StdSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    spray(&one, to, 1_100, "a");
    assert!(wait_until(|| mux.pending() == 4).await, "{}", mux.pending());
    for host in 2..10u8 {
        let other = StdSocket::bind((Ipv4Addr::new(127, 0, 0, host), 0)).expect("bind");
        spray(&other, to, 50, &format!("h{host}x"));
    }
    assert!(
        wait_until(|| mux.pending() == 16).await,
        "{}",
        mux.pending()
    );
    let mut announced = 0;
    while attempts.try_recv().is_ok() {
        announced += 1;
    }
    assert_eq!(announced, 16);
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
