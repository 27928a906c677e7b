//! The fuzz runner shared by the core's and the node's fuzz targets
//! (`crates/core/tests/codecs.rs`, `crates/node/tests/parsing.rs`, which include this file
//! with `#[path]` so that neither crate needs a test-support dependency).

use std::time::Instant;

use proptest::{
    prelude::*,
    test_runner::{Config, TestRunner},
};

/// How many inputs each fuzz target runs: `WEBKAD_FUZZ_RUNS` (underscores allowed),
/// default 512, a smoke run in CI; `cargo xtask fuzz` runs a million.
pub fn fuzz_runs() -> u32 {
    std::env::var("WEBKAD_FUZZ_RUNS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(512)
}

/// Runs `test` on `fuzz_runs()` inputs from `strategy` and prints the count and time
/// (`cargo xtask fuzz` collects these lines).
pub fn fuzz<S: Strategy>(
    name: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let runs = fuzz_runs();
    let mut runner = TestRunner::new(Config {
        cases: runs,
        failure_persistence: None,
        // Inputs are cheap; rejections are not expected.
        max_global_rejects: runs,
        ..Config::default()
    });
    let started = Instant::now();
    if let Err(failure) = runner.run(&strategy, test) {
        panic!("fuzz target {name} failed: {failure}");
    }
    println!(
        "fuzz target {name}: {runs} inputs in {:.1} s, no failure",
        started.elapsed().as_secs_f64()
    );
}
