//! Pub/sub rooms over gossipsub: joining, leaving, posting, and (on servers) relaying every
//! room a connected peer joins.

use libp2p::{
    PeerId,
    gossipsub::{self, IdentTopic, PublishError, TopicHash},
};

use super::{EventLoop, answer, unix_ms};
use crate::{
    client::{Reply, RoomInfo},
    error::Error,
    event::Event,
};

/// Longest room name, in bytes.
const MAX_ROOM_NAME: usize = 256;

impl EventLoop {
    pub(super) fn join_room(&mut self, topic: String, reply: Reply<bool>) {
        answer(reply, self.join(&topic));
    }

    fn join(&mut self, topic: &str) -> Result<bool, Error> {
        let topic = room(topic)?;
        let hash = topic.hash();
        self.reach.relayed.remove(&hash);
        if !self.reach.joined.insert(hash.clone()) {
            return Ok(false);
        }
        self.swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| Error::BadRoom(topic.to_string(), format!("{e:?}")))?;
        tracing::info!(room = %hash, "joined room");
        Ok(true)
    }

    pub(super) fn leave_room(&mut self, topic: String, reply: Reply<bool>) {
        let topic = match room(&topic) {
            Ok(topic) => topic,
            Err(e) => return answer(reply, Err(e)),
        };
        let hash = topic.hash();
        let was_joined = self.reach.joined.remove(&hash);
        if was_joined {
            if self.config.rooms.relay_all && self.room_peers(&hash).next().is_some() {
                // Others still use it: keep relaying.
                self.reach.relayed.insert(hash);
            } else {
                self.swarm.behaviour_mut().gossipsub.unsubscribe(&topic);
            }
        }
        answer(reply, Ok(was_joined));
    }

    pub(super) fn publish_in_room(&mut self, topic: String, data: Vec<u8>, reply: Reply<String>) {
        let limit = self.config.rooms.max_message_bytes;
        if data.len() > limit {
            return answer(
                reply,
                Err(Error::RoomMessageTooLarge {
                    size: data.len(),
                    limit,
                }),
            );
        }
        if let Err(e) = self.join(&topic) {
            return answer(reply, Err(e));
        }
        let size = data.len();
        let result = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(IdentTopic::new(topic.clone()), data)
            .map(|id| id.to_string())
            .map_err(|e| match e {
                PublishError::NoPeersSubscribedToTopic => Error::EmptyRoom(topic),
                PublishError::MessageTooLarge => Error::RoomMessageTooLarge { size, limit },
                other => Error::Remote(format!("cannot post: {other}")),
            });
        answer(reply, result);
    }

    pub(super) fn rooms(&self) -> Vec<RoomInfo> {
        let mut rooms: Vec<RoomInfo> = self
            .reach
            .joined
            .iter()
            .map(|hash| RoomInfo {
                topic: hash.to_string(),
                peers: self.room_peers(hash).collect(),
            })
            .collect();
        rooms.sort_by(|a, b| a.topic.cmp(&b.topic));
        rooms
    }

    fn room_peers<'a>(&'a self, hash: &'a TopicHash) -> impl Iterator<Item = PeerId> + 'a {
        self.swarm
            .behaviour()
            .gossipsub
            .all_peers()
            .filter(move |(_, topics)| topics.contains(&hash))
            .map(|(peer, _)| *peer)
    }

    /// Stops relaying rooms nobody connected uses any more.
    pub(super) fn drop_unused_relayed_rooms(&mut self) {
        let unused: Vec<TopicHash> = self
            .reach
            .relayed
            .iter()
            .filter(|hash| self.room_peers(hash).next().is_none())
            .cloned()
            .collect();
        for hash in unused {
            self.reach.relayed.remove(&hash);
            tracing::debug!(room = %hash, "no longer relaying room");
            self.swarm
                .behaviour_mut()
                .gossipsub
                .unsubscribe(&IdentTopic::new(hash.into_string()));
        }
    }

    pub(super) fn on_gossipsub(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                if !self.reach.joined.contains(&message.topic) {
                    return; // A room relayed for others.
                }
                self.publish(Event::RoomMessage {
                    topic: message.topic.to_string(),
                    from: message.source.unwrap_or(propagation_source).to_string(),
                    data: message.data,
                    id: message_id.to_string(),
                    at_ms: unix_ms(),
                });
            }
            gossipsub::Event::Subscribed { peer_id, topic } => {
                if self.reach.joined.contains(&topic) {
                    self.publish(Event::RoomPeerJoined {
                        topic: topic.to_string(),
                        peer: peer_id.to_string(),
                    });
                } else if self.config.rooms.relay_all && !self.reach.relayed.contains(&topic) {
                    self.relay_room(topic);
                }
            }
            gossipsub::Event::Unsubscribed { peer_id, topic } => {
                if self.reach.joined.contains(&topic) {
                    self.publish(Event::RoomPeerLeft {
                        topic: topic.to_string(),
                        peer: peer_id.to_string(),
                    });
                }
            }
            gossipsub::Event::GossipsubNotSupported { peer_id } => {
                tracing::debug!(peer = %peer_id, "peer does not speak gossipsub");
            }
            gossipsub::Event::SlowPeer { peer_id, .. } => {
                tracing::debug!(peer = %peer_id, "slow gossipsub peer");
            }
        }
    }

    /// Joins `topic` to carry it between the peers that use it (servers only).
    fn relay_room(&mut self, topic: TopicHash) {
        let rooms = self.reach.joined.len() + self.reach.relayed.len();
        if rooms >= self.config.rooms.max_rooms {
            tracing::warn!(room = %topic, rooms, "room limit reached: not relaying");
            return;
        }
        let ident = IdentTopic::new(topic.as_str());
        if self
            .swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&ident)
            .is_ok()
        {
            tracing::debug!(room = %topic, "relaying room");
            self.reach.relayed.insert(topic);
        }
    }
}

/// `name` as a gossipsub topic, if it is a usable room name.
fn room(name: &str) -> Result<IdentTopic, Error> {
    if name.trim().is_empty() {
        return Err(Error::BadRoom(name.to_owned(), "it is empty".into()));
    }
    if name.len() > MAX_ROOM_NAME {
        return Err(Error::BadRoom(
            name.chars().take(32).collect(),
            format!("it is {} bytes; the limit is {MAX_ROOM_NAME}", name.len()),
        ));
    }
    Ok(IdentTopic::new(name))
}
