//! Owner-signed records from the client's side: signing with the node's key and putting.

use super::{Client, PutReceipt};
use crate::error::Error;

/// A value signed by this node under its own key, ready to put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedValue {
    /// The record's key, `/webkad/pk/<our peer id>/<name>`.
    pub key: Vec<u8>,
    /// The record's value: the signed envelope.
    pub value: Vec<u8>,
    /// The sequence number signed.
    pub seq: u64,
}

impl Client {
    /// Signs `value` as this node's record `name`, with a sequence number above the copy the
    /// network holds (found with a GET) and no lower than the wall clock in milliseconds, so
    /// a writer that lost track of its last number still moves forward.
    pub async fn sign(&self, name: &str, value: Vec<u8>) -> Result<SignedValue, Error> {
        let Some(keypair) = &self.identity else {
            return Err(Error::NoIdentity);
        };
        if name.is_empty() {
            return Err(Error::EmptyKey);
        }
        let key = crate::signed::key(&self.local_peer_id, name);
        let held = match self.get(key).await {
            Ok(found) => found.and_then(|f| f.seq),
            Err(e @ (Error::Stopped | Error::Timeout(_))) => return Err(e),
            Err(_) => None,
        };
        let now = web_time::SystemTime::now()
            .duration_since(web_time::SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let seq = held.map_or(now, |h| now.max(h.saturating_add(1)));
        let (key, value) = crate::signed::sign(keypair, name, seq, value);
        Ok(SignedValue { key, value, seq })
    }

    /// Stores `value` as this node's owner-signed record `name` (key
    /// `/webkad/pk/<peer id>/<name>`), locally and on the closest DHT servers.
    pub async fn put_signed(
        &self,
        name: &str,
        value: Vec<u8>,
    ) -> Result<(SignedValue, PutReceipt), Error> {
        let signed = self.sign(name, value).await?;
        let receipt = self
            .put_receipt(signed.key.clone(), signed.value.clone())
            .await?;
        Ok((signed, receipt))
    }
}
