//! Reacting to Kademlia events: finishing queries and screening inbound records.

use libp2p::kad::{
    self, BootstrapOk, GetClosestPeersOk, GetProvidersOk, GetRecordOk, InboundRequest, QueryId,
    QueryResult,
};

use super::{EventLoop, answer};
use crate::{
    client::{FoundRecord, PutReceipt},
    error::Error,
    event::Event,
    store::{EntryKind, RefusalCause, WriteOutcome, show_key},
};

/// How many valid copies of a signed record a GET compares before it answers (fewer when
/// the query ends first).
const SIGNED_COPIES: usize = 3;

impl EventLoop {
    pub(super) fn on_kad_event(&mut self, event: kad::Event) {
        match event {
            kad::Event::OutboundQueryProgressed {
                id, result, step, ..
            } => {
                self.on_query_progress(id, result, step.last);
            }
            kad::Event::InboundRequest { request } => self.on_inbound_request(request),
            kad::Event::RoutingUpdated {
                peer,
                is_new_peer: true,
                ..
            } => {
                let routing_table_size = self.routing_table_size();
                tracing::debug!(%peer, routing_table_size, "routing table updated");
                self.publish(Event::RoutingUpdated {
                    peer: peer.to_string(),
                    routing_table_size,
                });
            }
            kad::Event::ModeChanged { new_mode } => tracing::info!(%new_mode, "kademlia mode"),
            _ => {}
        }
    }

    /// kad stores inbound records itself (`StoreInserts::Unfiltered`), so a write our store
    /// refuses is answered with a reset, never an acknowledgement. The store tells the loop
    /// what happened (`Store::outcomes`): each stored entry's key here, the refusals with
    /// their causes in [`EventLoop::report_refusals`].
    fn on_inbound_request(&mut self, request: InboundRequest) {
        let kind = match &request {
            InboundRequest::PutRecord { record: None, .. } => EntryKind::Record,
            InboundRequest::AddProvider { record: None } => EntryKind::Provider,
            _ => return,
        };
        let Some(stored) = self.next_stored(kind) else {
            return;
        };
        let key = String::from_utf8_lossy(stored.key.as_ref()).into_owned();
        match request {
            InboundRequest::PutRecord { source, .. } => self.publish(Event::RecordStored {
                key,
                from: source.to_string(),
            }),
            _ => self.publish(Event::ProviderStored {
                key,
                provider: stored.provider.map(|p| p.to_string()).unwrap_or_default(),
            }),
        }
    }

    /// The oldest stored entry of `kind` the store reported; refusals before it are counted.
    fn next_stored(&mut self, kind: EntryKind) -> Option<WriteOutcome> {
        loop {
            let outcome = self
                .swarm
                .behaviour_mut()
                .kad
                .store_mut()
                .outcomes()
                .pop_front()?;
            match &outcome.result {
                Ok(()) if outcome.kind == kind => return Some(outcome),
                Ok(()) => {}
                Err(cause) => self.count_refusal(&outcome, cause),
            }
        }
    }

    /// Counts and logs the refusals of inbound writes (they raise no kad event), up to the
    /// first stored entry, whose event is still on its way.
    pub(super) fn report_refusals(&mut self) {
        loop {
            let outcomes = self.swarm.behaviour_mut().kad.store_mut().outcomes();
            if outcomes.front().is_none_or(|o| o.result.is_ok()) {
                return;
            }
            let Some(outcome) = outcomes.pop_front() else {
                return;
            };
            if let Err(cause) = &outcome.result {
                self.count_refusal(&outcome, cause);
            }
        }
    }

    fn count_refusal(&self, outcome: &WriteOutcome, cause: &RefusalCause) {
        tracing::warn!(
            kind = outcome.kind.label(),
            key = %show_key(&outcome.key),
            %cause,
            "refused a write from a peer"
        );
        self.metrics
            .record_rejected(outcome.kind.label(), cause.label(), "remote");
    }

    fn on_query_progress(&mut self, id: QueryId, result: QueryResult, last: bool) {
        match result {
            QueryResult::Bootstrap(result) => {
                // The caller is answered at the first step (the lookup of our own key:
                // the network's first answer); the refreshes of farther buckets that follow
                // are sequential queries of their own, and joining need not wait for them.
                let size = self.routing_table_size();
                if let Some(reply) = self.pending.bootstrap.remove(&id) {
                    answer(reply, Ok(size));
                }
                if !last {
                    return;
                }
                match result {
                    Ok(BootstrapOk { .. }) => {
                        self.publish(Event::Bootstrapped {
                            routing_table_size: size,
                        });
                    }
                    Err(error) => tracing::debug!(%error, "bootstrap query failed"),
                }
            }
            QueryResult::PutRecord(result) => {
                let Some((reply, all)) = self.pending.put.remove(&id) else {
                    return;
                };
                let outcome = match result {
                    // Every one asked confirmed (kad does not list them then).
                    Ok(_) => Ok(PutReceipt {
                        confirmations: all,
                        confirmed_by: Vec::new(),
                    }),
                    Err(
                        kad::PutRecordError::QuorumFailed { success, .. }
                        | kad::PutRecordError::Timeout { success, .. },
                    ) => Ok(PutReceipt {
                        confirmations: success.len(),
                        confirmed_by: success,
                    }),
                };
                answer(reply, outcome);
            }
            QueryResult::GetRecord(result) => self.on_get_record(id, result, last),
            QueryResult::StartProviding(result) => {
                if let Some(reply) = self.pending.start_providing.remove(&id) {
                    answer(
                        reply,
                        result.map(|_| ()).map_err(|e| Error::Query(e.to_string())),
                    );
                }
            }
            QueryResult::GetProviders(result) => self.on_get_providers(id, result, last),
            QueryResult::GetClosestPeers(result) => {
                let Some((target, reply)) = self.pending.find_peer.remove(&id) else {
                    return;
                };
                let mut addrs = Vec::new();
                let peers = match result {
                    Ok(GetClosestPeersOk { peers, .. }) => peers,
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                };
                let answered = peers.into_iter().filter(|p| p.peer_id == target);
                let connected = self.peers.get(&target).into_iter();
                let more = answered
                    .flat_map(|p| p.addrs)
                    .chain(connected.flat_map(|s| s.connections.values().map(|c| c.addr.clone())));
                for a in more {
                    if !addrs.contains(&a) {
                        addrs.push(a);
                    }
                }
                answer(
                    reply,
                    if addrs.is_empty() {
                        Err(Error::NotFound)
                    } else {
                        Ok(addrs)
                    },
                );
            }
            QueryResult::RepublishProvider(_) | QueryResult::RepublishRecord(_) => {}
        }
    }

    fn on_get_record(&mut self, id: QueryId, result: kad::GetRecordResult, last: bool) {
        match result {
            Ok(GetRecordOk::FoundRecord(found)) => self.on_found_record(id, found, last),
            Ok(GetRecordOk::FinishedWithNoAdditionalRecord { .. })
            | Err(kad::GetRecordError::NotFound { .. }) => self.answer_get(id, Ok(None)),
            Err(error) => self.answer_get(id, Err(Error::Query(error.to_string()))),
        }
        // A query that ends with no (valid) answer finds nothing.
        if last {
            self.answer_get(id, Ok(None));
        }
    }

    /// One copy of a record. A plain record answers at once. A signed one is checked: an
    /// invalid copy is counted and dropped, and the query goes on to other servers; valid
    /// copies are compared, and the highest sequence among the first [`SIGNED_COPIES`] (or
    /// all, when fewer answer) is the answer, since a server that missed an update still
    /// holds the previous one.
    fn on_found_record(&mut self, id: QueryId, found: kad::PeerRecord, last: bool) {
        let signed = match crate::signed::verify(found.record.key.as_ref(), &found.record.value) {
            Ok(signed) => signed,
            Err(invalid) => {
                tracing::warn!(
                    key = %show_key(&found.record.key),
                    from = ?found.peer,
                    %invalid,
                    "discarded an invalid signed record"
                );
                self.metrics
                    .record_rejected("record", "bad_signature", "get_response");
                return;
            }
        };
        let record = FoundRecord {
            value: signed
                .as_ref()
                .map_or(found.record.value, |s| s.value.clone()),
            from: found.peer,
            publisher: found.record.publisher,
            signed_by: signed.as_ref().map(|s| s.owner),
            seq: signed.as_ref().map(|s| s.seq),
        };
        let done = match signed {
            None => {
                self.pending.signed_best.remove(&id);
                self.answer_get(id, Ok(Some(record)));
                true
            }
            Some(_) => {
                let (best, copies) = self
                    .pending
                    .signed_best
                    .entry(id)
                    .or_insert_with(|| (record.clone(), 0));
                if record.seq > best.seq {
                    *best = record;
                }
                *copies += 1;
                let done = *copies >= SIGNED_COPIES || last;
                if done {
                    self.answer_get(id, Ok(None));
                }
                done
            }
        };
        if done && let Some(mut query) = self.swarm.behaviour_mut().kad.query_mut(&id) {
            query.finish();
        }
    }

    /// Answers a GET once: with the best signed copy found, if any, else with `result`.
    fn answer_get(&mut self, id: QueryId, result: Result<Option<FoundRecord>, Error>) {
        let best = self.pending.signed_best.remove(&id).map(|(best, _)| best);
        if let Some(reply) = self.pending.get.remove(&id) {
            answer(reply, best.map_or(result, |best| Ok(Some(best))));
        }
    }

    fn on_get_providers(&mut self, id: QueryId, result: kad::GetProvidersResult, last: bool) {
        let Some((_, found)) = self.pending.get_providers.get_mut(&id) else {
            return;
        };
        match result {
            Ok(GetProvidersOk::FoundProviders { providers, .. }) => found.extend(providers),
            Ok(GetProvidersOk::FinishedWithNoAdditionalRecord { .. }) => {}
            Err(error) => tracing::debug!(%error, "provider query ended"),
        }
        let enough = found.len() >= self.config.max_providers_per_key;
        if enough
            && !last
            && let Some(mut query) = self.swarm.behaviour_mut().kad.query_mut(&id)
        {
            query.finish();
        }
        if (last || enough)
            && let Some((reply, found)) = self.pending.get_providers.remove(&id)
        {
            let mut providers: Vec<_> = found.into_iter().collect();
            providers.sort_by_key(|p| p.to_base58());
            answer(reply, Ok(providers));
        }
    }
}
