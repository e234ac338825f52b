//! What the replication tasks send each other: the service (the swarm's
//! owner), the per-peer tasks and the ingester. In a module of their own so
//! that those depend on it and not on each other.

use libp2p::gossipsub::IdentTopic;
use libp2p::PeerId;

/// What other tasks ask of the swarm.
pub(crate) enum Command {
    /// The peer sent invalid data.
    Fault(PeerId, &'static str),
    /// Publish on a gossip topic (from the gossip task).
    Gossip(IdentTopic, Vec<u8>),
    /// A peer's task (the one started `n`-th) ended.
    Ended(PeerId, u64),
}

/// A received entry and where it came from (peer tasks → ingester).
pub(crate) struct Incoming {
    pub(crate) peer: PeerId,
    pub(crate) entry: Vec<u8>,
    pub(crate) operation: Vec<u8>,
}
