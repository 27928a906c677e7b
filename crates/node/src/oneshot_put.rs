//! `webkad put`: a one-shot put that succeeds only when a node that stays holds the record.
//!
//! A one-shot client exits right after its put, so its own copy is gone a moment later; the
//! record lives only on the DHT servers that acknowledged it, and a server acknowledges
//! only what its store made durable. Which of them will stay online the client cannot
//! know, except for one: the bootstrap node it was told to join through. So the put
//! succeeds when the bootstrap node confirmed it (sent directly when it is not among the k
//! closest servers) and at least `--quorum` servers in all did.

use libp2p::PeerId;
use serde_json::json;
use webkad_core::{Client, addr};

/// Puts `key`, and checks the bootstrap node and `quorum` servers confirmed it.
pub(crate) async fn put(
    client: &Client,
    bootstrap: &[libp2p::Multiaddr],
    key: String,
    value: String,
    quorum: usize,
) -> Result<(String, serde_json::Value), String> {
    let confirmations = put_bytes(
        client,
        bootstrap,
        &key,
        key.as_bytes(),
        value.as_bytes(),
        quorum,
    )
    .await?;
    Ok((
        format!("stored {key:?} on {confirmations} DHT server(s), the bootstrap node included"),
        json!({
            "key": key,
            "stored": true,
            "confirmations": confirmations,
            "bootstrap_confirmed": true,
        }),
    ))
}

/// Puts this node's owner-signed record `name`, with the same checks as [`put`].
pub(crate) async fn put_signed(
    client: &Client,
    bootstrap: &[libp2p::Multiaddr],
    name: String,
    value: String,
    quorum: usize,
) -> Result<(String, serde_json::Value), String> {
    let signed = client
        .sign(&name, value.into_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let owner = client.local_peer_id();
    let shown = format!("{owner}/{name}");
    let confirmations = put_bytes(
        client,
        bootstrap,
        &shown,
        &signed.key,
        &signed.value,
        quorum,
    )
    .await?;
    Ok((
        format!(
            "stored {shown:?} signed by {owner} (sequence {}) on {confirmations} DHT server(s), \
             the bootstrap node included",
            signed.seq
        ),
        json!({
            "key": shown,
            "stored": true,
            "signed_by": owner.to_string(),
            "seq": signed.seq,
            "confirmations": confirmations,
            "bootstrap_confirmed": true,
        }),
    ))
}

/// Puts `key` = `value` and returns how many servers confirmed it, the bootstrap node
/// among them; `shown` names the key in messages.
async fn put_bytes(
    client: &Client,
    bootstrap: &[libp2p::Multiaddr],
    shown: &str,
    key: &[u8],
    value: &[u8],
    quorum: usize,
) -> Result<usize, String> {
    let key_bytes = key.to_vec();
    let key = shown.to_owned();
    let receipt = client
        .put_receipt(key_bytes.clone(), value.to_vec())
        .await
        .map_err(|e| e.to_string())?;
    let mut confirmed = receipt.confirmed_by.clone();
    let mut confirmations = receipt.confirmations;
    let stays = bootstrap_peers(client, bootstrap).await;
    // Every one of the k closest confirmed when kad lists none; the bootstrap node may be
    // among them, but only a direct put says so.
    let bootstrap_confirmed = stays.iter().any(|p| confirmed.contains(p));
    let bootstrap_confirmed = bootstrap_confirmed || {
        let direct = client
            .put_to(key_bytes, value.to_vec(), stays.clone())
            .await
            .map_err(|e| e.to_string())?;
        let new = direct
            .confirmed_by
            .iter()
            .filter(|p| !confirmed.contains(p))
            .count();
        if receipt.confirmed_by.len() == receipt.confirmations {
            confirmations += new;
        }
        confirmed.extend(direct.confirmed_by.iter().copied());
        direct.confirmations > 0
    };
    tracing::debug!(confirmations, ?confirmed, "put confirmed");
    if !bootstrap_confirmed {
        return Err(format!(
            "not stored: the bootstrap node did not confirm {key:?} (its store may be full or \
             its disk full; its log and metrics say which); {confirmations} other DHT \
             server(s) took a copy, but a one-shot put needs a node that stays"
        ));
    }
    if confirmations < quorum {
        return Err(format!(
            "not stored: {confirmations} DHT server(s) confirmed {key:?}; --quorum asks for {quorum}"
        ));
    }
    Ok(confirmations)
}

/// The peers behind the `--bootstrap` addresses (named by `/p2p/`, else dialed to learn).
async fn bootstrap_peers(client: &Client, bootstrap: &[libp2p::Multiaddr]) -> Vec<PeerId> {
    let mut peers = Vec::new();
    for address in bootstrap {
        let peer = match addr::peer_id_of(address) {
            Some(peer) => Some(peer),
            None => client.dial(address.clone()).await.ok(),
        };
        if let Some(peer) = peer
            && !peers.contains(&peer)
        {
            peers.push(peer);
        }
    }
    peers
}
