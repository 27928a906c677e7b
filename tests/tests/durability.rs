//! "Stored" means stored (issue 12), with real nodes and real files: a full disk, a full
//! store, a DHT server that leaves during one-shot puts, and damaged store files. Every
//! test counts acknowledged-but-lost records and damaged records served; both must be 0.
//!
//! The full-disk test mounts a small tmpfs, so it needs root; it skips with a message
//! otherwise, unless `WEBKAD_REQUIRE_NETNS` is set (as `cargo xtask test` does on CI).

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use webkad_tests::{LOOPBACK_LISTEN, ServeProcess, webkad};

/// `webkad serve` on `data` with free loopback ports, no HTTP, `extra` flags, and its log
/// in [`log_path`].
async fn serve(data: &Path, extra: &[&str]) -> ServeProcess {
    let mut args = vec![
        "--data-dir",
        data.to_str().expect("utf-8 path"),
        "--no-http",
    ];
    args.extend(LOOPBACK_LISTEN);
    args.extend(extra);
    ServeProcess::start_logged(&args, &log_path(data)).await
}

/// `<data>.log` in the system's temporary directory, not beside the data dir (which may
/// be the full tmpfs).
fn log_path(data: &Path) -> PathBuf {
    let name: String = data
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::env::temp_dir().join(format!("webkad-durability-{name}.log"))
}

fn read_log(data: &Path) -> String {
    std::fs::read_to_string(log_path(data)).unwrap_or_default()
}

/// A tmpfs of `size` mounted on a new directory; unmounted (lazily) on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (with a message) when this process may not mount: not root, or no
    /// CAP_SYS_ADMIN. Panics instead when `WEBKAD_REQUIRE_NETNS` is set.
    fn mount(test: &str, size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let why = if !is_root() {
            Some("not root".to_owned())
        } else {
            let out = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir.path())
                .output()
                .expect("mount runs");
            (!out.status.success())
                .then(|| format!("mount failed: {}", String::from_utf8_lossy(&out.stderr)))
        };
        if let Some(why) = why {
            assert!(
                std::env::var_os(webkad_tests::netns::REQUIRE_VAR).is_none(),
                "{test}: cannot mount a tmpfs: {why}"
            );
            eprintln!("skipping {test}: cannot mount a tmpfs ({why})");
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn got(key: &str, value: &str) -> String {
    format!("Got record \"{key}\" \"{value}\"")
}

fn not_found(key: &str) -> String {
    format!("Record \"{key}\" not found")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_puts_and_keeps_every_acknowledged_record() {
    let Some(fs) = Tmpfs::mount("a_full_disk_refuses_puts", "2m") else {
        return;
    };
    let data = fs.path().join("data");
    let mut node = serve(&data, &[]).await;
    let filler = "v".repeat(9000);
    let (mut acknowledged, mut refused) = (Vec::new(), Vec::new());
    let mut acknowledged_after_failure = 0;
    for i in 0..400 {
        let (key, value) = (format!("k{i}"), format!("{i}-{filler}"));
        let answer = node.console(&format!("PUT {key} {value}")).await;
        if answer.starts_with(&format!("Put record \"{key}\"")) {
            if !refused.is_empty() {
                acknowledged_after_failure += 1;
            }
            acknowledged.push((key, value));
        } else {
            assert_eq!(
                answer,
                format!("PUT \"{key}\" failed: the local store refused it: the disk is full")
            );
            refused.push(key);
            if refused.len() == 20 {
                break;
            }
        }
    }
    assert!(
        !acknowledged.is_empty() && refused.len() == 20,
        "the disk filled: {} acknowledged, {} refused",
        acknowledged.len(),
        refused.len()
    );
    assert_eq!(
        acknowledged_after_failure, 0,
        "every put after the first failure is refused"
    );
    // A small one-shot put through this node: refused (the node resets the stream), or,
    // if the freed pages of the database take it, acknowledged and durable like any other.
    let one_shot = webkad(&["put", "from-cli", "x", "--bootstrap", &node.addr("/tcp/")]).await;
    if one_shot.code == 0 {
        acknowledged.push(("from-cli".to_owned(), "x".to_owned()));
    } else {
        assert!(
            one_shot.stderr.contains("not stored"),
            "{}",
            one_shot.stderr
        );
        refused.push("from-cli".to_owned());
    }
    let stats = node.console_lines("STATS", 8).await.join("\n");
    assert!(stats.contains("disk_full"), "{stats}");
    node.terminate().await;

    let mut node = serve(&data, &[]).await;
    let mut lost = 0;
    for (key, value) in &acknowledged {
        if node.console(&format!("GET {key}")).await != got(key, value) {
            lost += 1;
        }
    }
    let mut resurrected = 0;
    for key in &refused {
        if node.console(&format!("GET {key}")).await != not_found(key) {
            resurrected += 1;
        }
    }
    eprintln!(
        "full disk: {} acknowledged, {} refused (all after the first failure); after a \
         restart {lost} acknowledged lost, {resurrected} refused present",
        acknowledged.len(),
        refused.len()
    );
    assert_eq!((lost, resurrected), (0, 0));
    node.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_refuses_new_keys_with_its_limit_and_takes_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut node = serve(&data, &["--max-records", "3"]).await;
    for key in ["a", "b", "c"] {
        let answer = node.console(&format!("PUT {key} 1")).await;
        assert!(answer.starts_with("Put record"), "{answer}");
    }
    assert_eq!(
        node.console("PUT d 1").await,
        "PUT \"d\" failed: the local store refused it: the record store is full (3 records)"
    );
    let overwrite = node.console("PUT a 2").await;
    assert!(overwrite.starts_with("Put record \"a\""), "{overwrite}");
    let tcp = node.addr("/tcp/");
    let new_key = webkad(&["put", "e", "1", "--bootstrap", &tcp]).await;
    assert_eq!(new_key.code, 1, "{}", new_key.stdout);
    assert!(new_key.stderr.contains("not stored"), "{}", new_key.stderr);
    let overwrite = webkad(&["put", "b", "2", "--bootstrap", &tcp]).await;
    assert_eq!(overwrite.code, 0, "{}", overwrite.stderr);
    assert_eq!(node.console("GET a").await, got("a", "2"));
    assert_eq!(node.console("GET b").await, got("b", "2"));
    assert_eq!(node.console("GET d").await, not_found("d"));
    assert_eq!(node.console("GET e").await, not_found("e"));
    let stats = node.console_lines("STATS", 8).await.join("\n");
    assert!(stats.contains("store_full"), "{stats}");
    assert!(
        read_log(&data).contains("the record store is full (3 records)"),
        "the refusal of the remote put is logged with its cause"
    );
    node.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_leaving_during_one_shot_puts_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("bootstrap");
    let mut bootstrap = serve(&data, &[]).await;
    let tcp = bootstrap.addr("/tcp/");
    let mut flags = vec![
        "--bootstrap",
        tcp.as_str(),
        "--kad-mode",
        "server",
        "--ephemeral",
    ];
    flags.push("--no-http");
    const PUTS: usize = 200;
    const BATCH: usize = 4;
    let mut short_lived: Option<ServeProcess> = None;
    let mut acknowledged = Vec::new();
    let mut confirmations = std::collections::BTreeMap::<usize, usize>::new();
    let started = Instant::now();
    for batch in 0..PUTS / BATCH {
        if batch == 10 {
            let mut args: Vec<&str> = flags.clone();
            args.extend(LOOPBACK_LISTEN);
            let log = dir.path().join("short-lived.log");
            short_lived = Some(ServeProcess::start_logged(&args, &log).await);
        }
        if batch == 35 {
            // Gone without a goodbye, as a killed process or a closed laptop.
            drop(short_lived.take());
        }
        let puts = (0..BATCH).map(|j| {
            let key = format!("tr-{}", batch * BATCH + j);
            let tcp = tcp.clone();
            async move {
                let out =
                    webkad(&["put", &key, &format!("value of {key}"), "--bootstrap", &tcp]).await;
                (key, out)
            }
        });
        for (key, out) in futures::future::join_all(puts).await {
            if out.code == 0 {
                // "stored "k" on N DHT server(s), the bootstrap node included"
                let servers: usize = out
                    .stdout
                    .split(" on ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("confirmations in {:?}", out.stdout));
                *confirmations.entry(servers).or_insert(0) += 1;
                acknowledged.push(key);
            } else {
                eprintln!("put {key} refused: {}", out.stderr.trim());
            }
        }
    }
    let elapsed = started.elapsed();
    let mut lost = Vec::new();
    for key in &acknowledged {
        if bootstrap.console(&format!("GET {key}")).await != got(key, &format!("value of {key}")) {
            lost.push(key.clone());
        }
    }
    eprintln!(
        "short-lived server: {PUTS} one-shot puts in {:.0} s, {} acknowledged (by how many \
         servers: {confirmations:?}), {} of them lost",
        elapsed.as_secs_f64(),
        acknowledged.len(),
        lost.len()
    );
    assert!(
        confirmations.contains_key(&2),
        "the short-lived server took copies while it ran: {confirmations:?}"
    );
    assert!(
        lost.is_empty(),
        "acknowledged but not on the bootstrap: {lost:?}"
    );
    assert!(acknowledged.len() >= PUTS * 9 / 10, "most puts succeed");
    bootstrap.terminate().await;
}

const RECORDS: usize = 300;

fn value_of(i: usize) -> String {
    format!("value-{i:03}-{}", "v".repeat(40))
}

/// A data dir whose store holds `RECORDS` records, written by a real node.
async fn pristine(dir: &Path) -> PathBuf {
    let data = dir.join("pristine");
    let mut node = serve(&data, &[]).await;
    for i in 0..RECORDS {
        let answer = node
            .console(&format!("PUT key-{i:03} {}", value_of(i)))
            .await;
        assert!(answer.starts_with("Put record"), "{answer}");
    }
    node.terminate().await;
    data
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

/// Serves a damaged copy and reads every key back: (intact served, missing, damaged served).
async fn served(data: &Path) -> (usize, usize, usize) {
    let mut node = serve(data, &[]).await;
    let (mut intact, mut missing, mut wrong) = (0, 0, 0);
    for i in 0..RECORDS {
        let key = format!("key-{i:03}");
        let answer = node.console(&format!("GET {key}")).await;
        if answer == got(&key, &value_of(i)) {
            intact += 1;
        } else if answer == not_found(&key) {
            missing += 1;
        } else {
            eprintln!("served damage: {answer}");
            wrong += 1;
        }
    }
    node.terminate().await;
    (intact, missing, wrong)
}

fn moved_aside(data: &Path) -> bool {
    std::fs::read_dir(data)
        .expect("read dir")
        .flatten()
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("store.redb.damaged-")
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_store_files_are_reported_and_never_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pristine = pristine(dir.path()).await;
    let store = std::fs::read(pristine.join("store.redb")).expect("store");

    // Bytes flipped inside record values: those entries fail their checksum.
    let data = dir.path().join("flipped");
    copy_dir(&pristine, &data);
    let mut bytes = store.clone();
    let damaged: Vec<usize> = (0..RECORDS).filter(|i| i % 9 == 0).collect();
    for &i in &damaged {
        let needle = format!("value-{i:03}-");
        let at = (0..bytes.len() - needle.len())
            .filter(|&p| bytes[p..p + needle.len()] == *needle.as_bytes())
            .collect::<Vec<_>>();
        assert!(!at.is_empty(), "{needle} is in the file");
        for p in at {
            bytes[p + needle.len() + 3] ^= 0x20;
        }
    }
    std::fs::write(data.join("store.redb"), &bytes).expect("write");
    let (intact, missing, wrong) = served(&data).await;
    eprintln!(
        "flipped bytes in {} values: {intact} intact, {missing} missing, {wrong} damaged served",
        damaged.len()
    );
    assert_eq!(
        (intact, missing, wrong),
        (RECORDS - damaged.len(), damaged.len(), 0)
    );
    let log = read_log(&data);
    assert!(log.contains("damaged entries"), "{log}");
    assert!(log.contains("key-009"), "the log names the damaged keys");
    assert!(moved_aside(&data));

    // The same damage with --on-damaged-store refuse: a clear error, no start, file kept.
    let data = dir.path().join("refuse");
    copy_dir(&pristine, &data);
    std::fs::write(data.join("store.redb"), &bytes).expect("write");
    let refuse = webkad(&[
        "serve",
        "--data-dir",
        data.to_str().expect("utf-8"),
        "--no-http",
        "--no-console",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--on-damaged-store",
        "refuse",
    ])
    .await;
    assert_ne!(refuse.code, 0);
    assert!(refuse.stderr.contains("is damaged"), "{}", refuse.stderr);
    assert!(!moved_aside(&data));

    // 4 KiB flipped in the middle of the file.
    let data = dir.path().join("middle");
    copy_dir(&pristine, &data);
    let mut bytes = store.clone();
    let start = (bytes.len() / 2) & !4095;
    for b in &mut bytes[start..start + 4096] {
        *b ^= 0xff;
    }
    std::fs::write(data.join("store.redb"), &bytes).expect("write");
    let (intact, missing, wrong) = served(&data).await;
    eprintln!(
        "4 KiB flipped at {start}: {intact} intact, {missing} missing, {wrong} damaged served"
    );
    assert_eq!(wrong, 0);
    let log = read_log(&data);
    if missing > 0 {
        assert!(log.contains("the record store was damaged"), "{log}");
    }
    assert!(
        !log.contains("panicked at"),
        "a caught panic is not printed as a crash: {log}"
    );

    // A zero-length store in a used data dir: reported, not a new store.
    let data = dir.path().join("empty");
    copy_dir(&pristine, &data);
    std::fs::write(data.join("store.redb"), b"").expect("write");
    let (intact, missing, wrong) = served(&data).await;
    assert_eq!((intact, missing, wrong), (0, RECORDS, 0));
    assert!(
        read_log(&data).contains("zero length"),
        "{}",
        read_log(&data)
    );
    assert!(moved_aside(&data));

    // Truncated to half: redb cannot open it; moved aside, the node starts.
    let data = dir.path().join("truncated");
    copy_dir(&pristine, &data);
    std::fs::write(data.join("store.redb"), &store[..store.len() / 2]).expect("write");
    let (intact, missing, wrong) = served(&data).await;
    eprintln!("truncated: {intact} intact, {missing} missing, {wrong} damaged served");
    assert_eq!(wrong, 0);
    assert!(
        read_log(&data).contains("the record store was damaged"),
        "{}",
        read_log(&data)
    );
    assert!(moved_aside(&data));
}
