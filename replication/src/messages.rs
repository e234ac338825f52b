//! What the replication tasks send each other: the service (the swarm's
//! owner), the per-peer tasks and the ingester. In a module of their own so
//! that those depend on it and not on each other.

use libp2p::gossipsub::IdentTopic;
use libp2p::PeerId;
use tokio::sync::mpsc;

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

/// Tells the service that a peer task ended when it is dropped.
pub(crate) struct Ended {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) peer: PeerId,
    pub(crate) n: u64,
}

impl Drop for Ended {
    fn drop(&mut self) {
        let ended = Command::Ended(self.peer, self.n);
        if let Err(mpsc::error::TrySendError::Full(ended)) = self.commands.try_send(ended) {
            // The service is busy: tell it as soon as there is room (the
            // send ends with the service, whose receiver then drops).
            let commands = self.commands.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { commands.send(ended).await });
            }
        }
    }
}
