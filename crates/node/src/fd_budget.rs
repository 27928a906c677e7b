//! How many file descriptors the process holds, and how many it may: the node keeps a
//! reserve of them for its own work (libp2p connections, the record store, logs) and sheds
//! HTTP connections before it runs out.
//!
//! Linux only (`/proc/self`); elsewhere both figures are unknown and nothing is shed for
//! descriptors.

/// The soft `RLIMIT_NOFILE` of this process ("Max open files" in `/proc/self/limits`), if
/// known and finite.
pub fn soft_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The descriptors open right now (the entries of `/proc/self/fd`, less the one reading it).
pub fn open_now() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    Some((entries.count() as u64).saturating_sub(1))
}

/// Whether opening one more descriptor would eat into a `reserve` kept below `limit`.
pub fn short(limit: Option<u64>, reserve: u64) -> bool {
    match (limit, open_now()) {
        (Some(limit), Some(open)) => open + reserve >= limit,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_limit_and_the_count() {
        if cfg!(target_os = "linux") {
            let limit = soft_limit().expect("a finite soft limit");
            let open = open_now().expect("/proc/self/fd readable");
            assert!(open >= 3 && open < limit, "{open} open of {limit}");
            assert!(short(Some(limit), limit));
            assert!(!short(Some(limit), 0));
        }
    }
}
