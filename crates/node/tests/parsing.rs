//! Property tests and fuzz targets for what the node parses from users: console lines,
//! ping targets (a multiaddr or a peer id), relay addresses and the command line.
//!
//! `fuzz_*` tests run `WEBKAD_FUZZ_RUNS` inputs each (default 512; `cargo xtask fuzz`
//! runs a million): bad input is a one-line error, never a panic.

use clap::Parser;
use proptest::prelude::*;
use webkad_core::PingTarget;
use webkad_node::{
    cli::{Cli, relay_addr},
    console::{self, parse_ping_target},
};

#[path = "../../core/tests/support/fuzz.rs"]
mod fuzz_support;
use fuzz_support::fuzz;

/// Words a user might type, mixed with arbitrary text, so parsers get past their first
/// check.
fn words() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("PUT".to_owned()),
        Just("GET".to_owned()),
        Just("PING".to_owned()),
        Just("SEND".to_owned()),
        Just("PUB".to_owned()),
        Just("SUB".to_owned()),
        Just("FIND_PEER".to_owned()),
        Just("PUT_PROVIDER".to_owned()),
        Just("/ip4/127.0.0.1/tcp/4001".to_owned()),
        Just("/p2p/".to_owned()),
        Just("12D3KooWB2XRgUFisUsso5maiuvNV9P6ryUkNs122znipL5xBk39".to_owned()),
        "\\PC{0,16}".prop_map(|s| s),
        any::<String>(),
    ];
    proptest::collection::vec(word, 0..6).prop_map(|w| w.join(" "))
}

fn flag_words() -> impl Strategy<Value = Vec<String>> {
    let word = prop_oneof![
        Just("put".to_owned()),
        Just("get".to_owned()),
        Just("serve".to_owned()),
        Just("ping".to_owned()),
        Just("--bootstrap".to_owned()),
        Just("--quorum".to_owned()),
        Just("--max-records".to_owned()),
        Just("--on-damaged-store".to_owned()),
        Just("--relay".to_owned()),
        Just("--listen".to_owned()),
        Just("recover".to_owned()),
        Just("0".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just(
            "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWB2XRgUFisUsso5maiuvNV9P6ryUkNs122znipL5xBk39"
                .to_owned()
        ),
        "\\PC{0,12}".prop_map(|s| s),
    ];
    proptest::collection::vec(word, 0..6)
}

fn check_console_line(line: String) -> Result<(), TestCaseError> {
    if let Err(message) = console::parse(&line) {
        prop_assert!(!message.is_empty());
    }
    Ok(())
}

fn check_ping_target(text: String) -> Result<(), TestCaseError> {
    match parse_ping_target(&text) {
        Ok(PingTarget::Addr(_)) => prop_assert!(text.starts_with('/')),
        Ok(PingTarget::Peer(peer)) => prop_assert_eq!(peer.to_string(), text.clone()),
        Err(message) => prop_assert!(!message.contains('\n')),
    }
    let _ = relay_addr(&text);
    Ok(())
}

fn check_command_line(args: Vec<String>) -> Result<(), TestCaseError> {
    // clap reports bad input as an error value; it must never panic.
    let _ = Cli::try_parse_from(std::iter::once("webkad".to_owned()).chain(args));
    Ok(())
}

#[test]
fn fuzz_console_lines() {
    fuzz("console lines", words(), check_console_line);
}

#[test]
fn fuzz_ping_targets_and_relay_addresses() {
    fuzz("ping targets", words(), check_ping_target);
}

#[test]
fn fuzz_command_line() {
    fuzz("command line", flag_words(), check_command_line);
}

proptest! {
    #[test]
    fn a_peer_id_parses_back_to_itself(seed in any::<[u8; 32]>()) {
        let key = libp2p::identity::Keypair::ed25519_from_bytes(seed).expect("32 bytes");
        let peer = key.public().to_peer_id();
        let parsed = parse_ping_target(&peer.to_string()).map_err(TestCaseError::fail)?;
        prop_assert_eq!(parsed, PingTarget::Peer(peer));
    }

    #[test]
    fn put_lines_keep_key_and_value(key in "[a-z0-9]{1,16}", value in "[a-z0-9 ]{1,32}") {
        let value = value.trim().to_owned();
        prop_assume!(!value.is_empty());
        let parsed = console::parse(&format!("PUT {key} {value}"));
        prop_assert_eq!(parsed, Ok(Some(console::ConsoleCommand::Put(key, value))));
    }
}
