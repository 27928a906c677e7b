//! Owner-signed records (issue 13), with real processes and real files on 127.0.0.1: the
//! owner's one-shot `put --signed` is read back by another process with its signer; a
//! server refuses a forgery, a replayed lower sequence and a second value under the same
//! sequence, and counts each; a reader discards a tampered copy a server hands it.

use std::path::Path;

use libp2p::{
    Multiaddr, PeerId,
    identity::Keypair,
    kad::{Record, RecordKey},
};
use webkad_core::{
    metrics::{Sample, parse_samples},
    signed,
    store::{Persistence, disk::DiskStore},
};
use webkad_tests::{
    LOOPBACK_LISTEN, ServeProcess, client_config, http_get, init_logs, spawn_node, webkad,
};

/// `webkad serve` on `data` with free loopback ports and HTTP (for `/metrics`).
async fn serve(data: &Path) -> ServeProcess {
    let mut args = vec![
        "--data-dir",
        data.to_str().expect("utf-8 path"),
        "--http",
        "127.0.0.1:0",
    ];
    args.extend(LOOPBACK_LISTEN);
    ServeProcess::start(&args).await
}

/// The identity a data dir holds (what `put --signed` signs with).
fn identity(data: &Path) -> Keypair {
    let bytes = std::fs::read(data.join("identity.key")).expect("identity key");
    Keypair::from_protobuf_encoding(&bytes).expect("a keypair")
}

/// The node's `/metrics`, parsed.
async fn scrape(node: &ServeProcess) -> Vec<Sample> {
    let http = node.http.as_deref().expect("HTTP served");
    let (status, body) = http_get(&format!("{http}/metrics")).await;
    assert_eq!(status, 200, "{body}");
    parse_samples(&body)
}

/// `webkad_records_rejected_total` for `reason` and `origin`.
fn rejected(samples: &[Sample], reason: &str, origin: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.name.starts_with("webkad_records_rejected"))
        .filter(|s| s.label("reason") == Some(reason) && s.label("origin") == Some(origin))
        .map(|s| s.value)
        .sum()
}

/// `webkad get <key>` through `bootstrap`.
async fn get(bootstrap: &str, key: &str) -> webkad_tests::Output {
    webkad(&["get", "--bootstrap", bootstrap, key]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_can_write_a_signed_record_and_higher_sequences_win() {
    init_logs();
    let dirs = tempfile::tempdir().expect("temp dir");
    let server = serve(&dirs.path().join("server")).await;
    let bootstrap = server.addr("/tcp/");
    let owner_dir = dirs.path().join("owner");
    let owner_dir = owner_dir.to_str().expect("utf-8 path");

    // The owner's one-shot put, signed with its data dir's identity.
    let put = webkad(&[
        "put",
        "--signed",
        "--data-dir",
        owner_dir,
        "--bootstrap",
        &bootstrap,
        "greeting",
        "hello",
    ])
    .await;
    assert_eq!(put.code, 0, "{put:?}");
    let owner = identity(Path::new(owner_dir));
    let owner_id = owner.public().to_peer_id();
    assert!(
        put.stdout.contains(&format!("signed by {owner_id}")),
        "{put:?}"
    );

    // Another process reads it, and says who signed it.
    let user_key = format!("{owner_id}/greeting");
    let read = get(&bootstrap, &user_key).await;
    assert_eq!((read.code, read.stdout.trim()), (0, "hello"), "{read:?}");
    assert!(
        read.stderr.contains(&format!("signed by {owner_id}")),
        "{read:?}"
    );
    let json = webkad(&["get", "--json", "--bootstrap", &bootstrap, &user_key]).await;
    let json: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(json["signed_by"], owner_id.to_string());
    let seq = json["seq"].as_u64().expect("a sequence number");

    // A hostile peer talks Kademlia to the server directly (put_to skips its own store).
    let server_id: PeerId = server.peer_id.parse().expect("peer id");
    let addr: Multiaddr = bootstrap.parse().expect("multiaddr");
    let hostile = spawn_node(client_config(), &[addr]).await;
    let key = signed::key(&owner_id, "greeting");
    let offer = |value: Vec<u8>| {
        let client = hostile.client.clone();
        let key = key.clone();
        async move {
            client
                .put_to(key, value, vec![server_id])
                .await
                .expect("put runs")
                .confirmations
        }
    };
    // Its own signature under the owner's key, and a plain value there.
    let (_, forged) = signed::sign(
        &Keypair::generate_ed25519(),
        "greeting",
        u64::MAX,
        b"evil".to_vec(),
    );
    assert_eq!(offer(forged).await, 0, "a forgery was stored");
    assert_eq!(offer(b"evil".to_vec()).await, 0, "a plain value was stored");
    // A replay of an older genuine record (sequence 1), and a second value at the
    // sequence held.
    let (_, old) = signed::sign(&owner, "greeting", 1, b"old".to_vec());
    assert_eq!(offer(old).await, 0, "a lower sequence was stored");
    let (_, twin) = signed::sign(&owner, "greeting", seq, b"twin".to_vec());
    assert_eq!(
        offer(twin).await,
        0,
        "a second value at one sequence was stored"
    );
    // The same record again is harmless (replication re-puts it).
    let (_, newer) = signed::sign(&owner, "greeting", seq + 1, b"newer".to_vec());
    assert_eq!(
        offer(newer.clone()).await,
        1,
        "the owner's newer record refused"
    );
    assert_eq!(offer(newer).await, 1, "a re-put of the record held refused");

    let read = get(&bootstrap, &user_key).await;
    assert_eq!((read.code, read.stdout.trim()), (0, "newer"), "{read:?}");

    let samples = scrape(&server).await;
    assert!(
        rejected(&samples, "bad_signature", "remote") >= 2.0,
        "{samples:?}"
    );
    assert_eq!(rejected(&samples, "stale_sequence", "remote"), 1.0);
    assert_eq!(rejected(&samples, "sequence_conflict", "remote"), 1.0);

    // Plain keys work as before, and a plain put under a signed key is refused locally.
    let plain = webkad(&["put", "--bootstrap", &bootstrap, "plain", "v"]).await;
    assert_eq!(plain.code, 0, "{plain:?}");
    let full_key = String::from_utf8(key).expect("utf-8 key");
    let local = webkad(&["put", "--bootstrap", &bootstrap, &full_key, "v"]).await;
    assert_eq!(local.code, 1, "{local:?}");
    assert!(
        local.stderr.contains("not a valid signed record"),
        "{local:?}"
    );

    // The console: the server signs its own record, and reads the owner's.
    let mut server = server;
    let answer = server.console("PUT_SIGNED motd served here").await;
    assert!(answer.starts_with("Put signed record"), "{answer}");
    let read = get(&bootstrap, &format!("{}/motd", server.peer_id)).await;
    assert_eq!(read.stdout.trim(), "served here", "{read:?}");
    let answer = server.console(&format!("GET {user_key}")).await;
    assert!(
        answer.contains("\"newer\"") && answer.contains(&format!("signed by {owner_id}")),
        "{answer}"
    );

    hostile.shutdown().await;
    server.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_discards_a_tampered_copy_a_server_hands_it() {
    init_logs();
    let dirs = tempfile::tempdir().expect("temp dir");
    let data = dirs.path().join("server");
    let owner = Keypair::generate_ed25519();
    let owner_id = owner.public().to_peer_id();

    // A server whose store file holds a genuine record with one byte of the value changed
    // (written straight into the file, as a hostile operator or a damaged copy would).
    let first = serve(&data).await;
    first.terminate().await;
    let (key, mut value) = signed::sign(&owner, "greeting", 5, b"genuine".to_vec());
    let at = value
        .windows(7)
        .position(|w| w == b"genuine")
        .expect("value inside the envelope");
    value[at] = b'G';
    {
        let mut store = DiskStore::open(&data.join("store.redb")).expect("store opens");
        let mut record = Record::new(RecordKey::new(&key), value);
        record.publisher = Some(owner_id);
        store.put_record(&record).expect("written");
    }
    let server = serve(&data).await;
    let bootstrap = server.addr("/tcp/");

    // The one-shot reader finds nothing valid.
    let read = get(&bootstrap, &format!("{owner_id}/greeting")).await;
    assert_eq!(
        (read.code, read.stderr.trim()),
        (1, "not found"),
        "{read:?}"
    );

    // An in-process reader counts what it discarded.
    let addr: Multiaddr = bootstrap.parse().expect("multiaddr");
    let reader = spawn_node(client_config(), &[addr]).await;
    let found = reader.client.get(key).await.expect("get runs");
    assert_eq!(found, None);
    let samples = reader.client.metrics().samples();
    assert_eq!(rejected(&samples, "bad_signature", "get_response"), 1.0);

    reader.shutdown().await;
    server.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_takes_the_highest_sequence_among_the_servers_that_answer() {
    init_logs();
    let dirs = tempfile::tempdir().expect("temp dir");
    let first = serve(&dirs.path().join("a")).await;
    let boot = first.addr("/tcp/");
    let data_b = dirs.path().join("b");
    let mut args = vec![
        "--data-dir",
        data_b.to_str().expect("utf-8 path"),
        "--no-http",
        "--bootstrap",
        &boot,
        "--kad-mode",
        "server",
    ];
    args.extend(LOOPBACK_LISTEN);
    let second = ServeProcess::start(&args).await;
    let ids: Vec<PeerId> = [&first, &second]
        .iter()
        .map(|s| s.peer_id.parse().expect("peer id"))
        .collect();

    // The second server missed the owner's update: it holds sequence 1, the first 2.
    let owner = Keypair::generate_ed25519();
    let owner_id = owner.public().to_peer_id();
    let addr: Multiaddr = boot.parse().expect("multiaddr");
    let writer = spawn_node(client_config(), &[addr]).await;
    for (seq, value, server) in [(1, "old", ids[1]), (2, "new", ids[0])] {
        let (key, value) = signed::sign(&owner, "n", seq, value.as_bytes().to_vec());
        let receipt = writer
            .client
            .put_to(key, value, vec![server])
            .await
            .expect("put runs");
        assert_eq!(receipt.confirmations, 1, "sequence {seq}");
    }
    for _ in 0..5 {
        let read = get(&boot, &format!("{owner_id}/n")).await;
        assert_eq!((read.code, read.stdout.trim()), (0, "new"), "{read:?}");
    }
    writer.shutdown().await;
    second.terminate().await;
    first.terminate().await;
}
