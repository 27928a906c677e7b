//! How values, keys and times are shown to people.

use std::time::Duration;

/// A string in double quotes, with quotes and control characters escaped.
pub fn quote(s: &str) -> String {
    format!("{s:?}")
}

/// A round-trip time in milliseconds with two decimals.
pub fn show_rtt(rtt: Duration) -> String {
    format!("{:.2} ms", rtt.as_secs_f64() * 1000.0)
}

/// Milliseconds as a float, for JSON.
pub fn millis(rtt: Duration) -> f64 {
    rtt.as_secs_f64() * 1000.0
}
