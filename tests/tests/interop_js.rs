//! Interoperability with an independent libp2p implementation: a js-libp2p peer
//! (`tests/interop/js/interop.mjs`, run by Node.js) speaking `/webkad/kad/1.0.0` over TCP,
//! noise and yamux stores and finds records and provider records through an in-process
//! webkad node, and webkad clients (in-process and the one-shot CLI) see what js stored, and
//! the other way round.
//!
//! The js peer needs `npm ci` in `tests/interop/js` (`cargo xtask test` runs it and sets
//! `WEBKAD_REQUIRE_INTEROP=1`). Without its `node_modules`, this test prints `skipping: ...`
//! and passes, unless `WEBKAD_REQUIRE_INTEROP` is set, in which case it fails.
//!
//! Provider keys: js-libp2p provides CIDs and uses the CID's multihash bytes as the DHT
//! key, while webkad uses the key bytes as given. `interop.mjs` maps its KEY argument to a
//! CIDv1 whose multihash is the identity multihash of KEY's UTF-8 bytes, so the Rust side
//! gets the same DHT key with [`identity_multihash`] (no hashing crate needed) and calls
//! `start_providing`/`get_providers` with it. The one-shot CLI cannot spell that key (it
//! starts with a NUL byte), so it takes part in the record directions only.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Instant,
};

use futures::{StreamExt, channel::mpsc};
use libp2p::PeerId;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    process::{Child, Command},
};
use webkad_core::{Event, client::PutOutcome};
use webkad_tests::{client_config, init_logs, server_config, spawn_node, webkad, within};

/// Where the js-libp2p peer lives.
fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/js")
}

/// Whether the js peer's dependencies are installed. Missing ones fail the test when
/// `WEBKAD_REQUIRE_INTEROP` is set, and skip it otherwise.
fn js_peer_installed() -> bool {
    let modules = js_dir().join("node_modules");
    if modules.is_dir() {
        return true;
    }
    assert!(
        std::env::var_os("WEBKAD_REQUIRE_INTEROP").is_none(),
        "{} is missing: run npm ci in tests/interop/js (cargo xtask test does)",
        modules.display()
    );
    eprintln!(
        "skipping: the js-libp2p interop test needs {} (run `npm ci --prefix tests/interop/js`)",
        modules.display()
    );
    false
}

/// `node interop.mjs <args>`, with its stdout and stderr piped, killed when dropped.
fn js_command(args: &[&str]) -> Command {
    let mut command = Command::new("node");
    command
        .arg(js_dir().join("interop.mjs"))
        .args(args)
        .current_dir(js_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// What a finished js command printed.
#[derive(Debug)]
struct JsOutput {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `node interop.mjs <args>` to completion (bounded), with stdin closed.
async fn js(args: &[&str]) -> JsOutput {
    let run = js_command(args).stdin(Stdio::null()).output();
    let out = within(&format!("node interop.mjs {args:?}"), run)
        .await
        .expect("node runs (is Node.js installed?)");
    let out = JsOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!("js {args:?} -> {}\n{}", out.code, out.stderr.trim_end());
    out
}

/// The DHT key js-libp2p uses when it provides `key`: the multihash of a CID whose hash
/// function is `identity` (code 0x00) over `key`'s UTF-8 bytes: 0x00, varint length, bytes.
fn identity_multihash(key: &str) -> Vec<u8> {
    let mut bytes = vec![0x00];
    let mut len = key.len();
    loop {
        let low = u8::try_from(len & 0x7f).expect("seven bits fit in a byte");
        len >>= 7;
        if len == 0 {
            bytes.push(low);
            break;
        }
        bytes.push(low | 0x80);
    }
    bytes.extend_from_slice(key.as_bytes());
    bytes
}

/// Waits (bounded) until the node reports that `provider` announced itself there.
async fn provider_stored(events: &mut mpsc::Receiver<Event>, provider: &str) {
    within(&format!("provider record of {provider} stored"), async {
        while let Some(event) = events.next().await {
            if matches!(&event, Event::ProviderStored { provider: p, .. } if p == provider) {
                return;
            }
        }
        panic!("event stream ended");
    })
    .await;
}

/// A `node interop.mjs ... provide KEY` that keeps running; it stops when stdin closes.
struct JsProvider {
    child: Child,
    peer_id: PeerId,
}

impl JsProvider {
    async fn start(bootstrap: &str, key: &str) -> Self {
        let mut child = js_command(&[bootstrap, "provide", key])
            .stdin(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts (is Node.js installed?)");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = within("js provide announces", lines.next_line())
            .await
            .expect("js stdout readable")
            .expect("js provide exited before announcing (its stderr is above)");
        let peer_id = line
            .strip_prefix("providing ")
            .unwrap_or_else(|| panic!("unexpected js provide output {line:?}"))
            .parse()
            .expect("js prints its peer id");
        Self { child, peer_id }
    }

    /// Closes its stdin and waits for a clean exit.
    async fn stop(mut self) {
        drop(self.child.stdin.take());
        let status = within("js provide exits", self.child.wait())
            .await
            .expect("wait for js");
        let mut rest = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            let _ = within("js stdout", stdout.read_to_string(&mut rest)).await;
        }
        assert!(
            status.success(),
            "js provide exit {status}; stdout {rest:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_libp2p_peer_puts_gets_provides_and_finds_providers_through_webkad() {
    if !js_peer_installed() {
        return;
    }
    init_logs();
    let started = Instant::now();
    let bootstrap = spawn_node(server_config(), &[]).await;
    let addr = bootstrap.addr("tcp").expect("tcp listener").to_string();
    let bootstrap_id = bootstrap.peer_id.to_string();
    let client = spawn_node(
        client_config(),
        &[bootstrap.addr("tcp").expect("tcp").clone()],
    )
    .await;

    // js PUT → webkad GET (in-process client and one-shot CLI).
    let put = js(&[&addr, "put", "/webkad/from-js", "hello from js"]).await;
    assert_eq!(put.code, 0, "js put failed: {}", put.stderr);
    assert!(
        put.stdout.contains(&bootstrap_id),
        "the bootstrap stored the js record: {put:?}"
    );
    let found = within(
        "get js record",
        client.client.get(b"/webkad/from-js".to_vec()),
    )
    .await
    .expect("get works")
    .expect("the js record is found");
    assert_eq!(found.value, b"hello from js");
    assert_eq!(
        found.from,
        Some(bootstrap.peer_id),
        "served by the bootstrap"
    );
    let cli = webkad(&["get", "/webkad/from-js", "--bootstrap", &addr]).await;
    assert_eq!(cli.code, 0, "webkad get: {cli:?}");
    assert_eq!(cli.stdout.trim_end(), "hello from js");

    // webkad PUT (in-process client and one-shot CLI) → js GET.
    let outcome = within(
        "put from rust",
        client
            .client
            .put(b"/webkad/from-rust".to_vec(), b"hello from rust".to_vec()),
    )
    .await;
    assert_eq!(outcome, Ok(PutOutcome::Replicated));
    let get = js(&[&addr, "get", "/webkad/from-rust"]).await;
    assert_eq!((get.code, get.stdout.as_str()), (0, "hello from rust\n"));
    let cli = webkad(&[
        "put",
        "/webkad/from-cli",
        "hello from the cli",
        "--bootstrap",
        &addr,
    ])
    .await;
    assert_eq!(cli.code, 0, "webkad put: {cli:?}");
    let get = js(&[&addr, "get", "/webkad/from-cli"]).await;
    assert_eq!((get.code, get.stdout.as_str()), (0, "hello from the cli\n"));
    let missing = js(&[&addr, "get", "/webkad/nobody-stored-this"]).await;
    assert_eq!((missing.code, missing.stdout.as_str()), (1, ""));

    // js PROVIDE → webkad GET_PROVIDERS.
    let mut events = bootstrap.client.subscribe().await.expect("subscribe");
    let provider = JsProvider::start(&addr, "js-file").await;
    // ADD_PROVIDER has no answer: wait until the bootstrap has stored it.
    provider_stored(&mut events, &provider.peer_id.to_string()).await;
    let providers = within(
        "providers of the js key",
        client.client.get_providers(identity_multihash("js-file")),
    )
    .await
    .expect("providers query works");
    assert!(
        providers.contains(&provider.peer_id),
        "{providers:?} lacks the js peer {}",
        provider.peer_id
    );
    provider.stop().await;

    // webkad START_PROVIDING → js FIND_PROVIDERS.
    within(
        "provide from rust",
        client
            .client
            .start_providing(identity_multihash("rust-file")),
    )
    .await
    .expect("provide works");
    provider_stored(&mut events, &client.peer_id.to_string()).await;
    let found = js(&[&addr, "providers", "rust-file"]).await;
    assert_eq!(found.code, 0, "js providers failed: {}", found.stderr);
    assert!(
        found
            .stdout
            .lines()
            .any(|l| l == client.peer_id.to_string()),
        "js did not find {} among {:?}",
        client.peer_id,
        found.stdout
    );
    let none = js(&[&addr, "providers", "nobody-provides-this"]).await;
    assert_eq!((none.code, none.stdout.as_str()), (1, ""));

    client.shutdown().await;
    bootstrap.shutdown().await;
    eprintln!("js-libp2p interop took {:?}", started.elapsed());
}

#[test]
fn identity_multihash_matches_js_libp2p() {
    // interop.mjs logs `DHT key 00056d6f766965` for `provide movie`.
    assert_eq!(
        identity_multihash("movie"),
        [0x00, 0x05, b'm', b'o', b'v', b'i', b'e']
    );
    let long = "x".repeat(200);
    assert_eq!(identity_multihash(&long)[..3], [0x00, 0xc8, 0x01]);
}
