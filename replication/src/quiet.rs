//! A behaviour that sleeps while no connection is open.
//!
//! Gossipsub runs its heartbeat (mesh upkeep, cache expiry) on a timer
//! every half second whether or not anyone is connected: a node with no
//! peers would wake twice a second for nothing. Wrapped in [`Quiet`], it is
//! not polled while there are no connections, so its timer is not set
//! again once it has fired; the first connection's events reach it as
//! before and the swarm polls it again right after them, which runs the
//! overdue heartbeat.
//!
//! While connections are open, [`Quiet`] wakes the swarm every `period`
//! itself: gossipsub sets its next heartbeat without polling it, so
//! without another wake-up the heartbeat would wait for the next event of
//! some other behaviour.

use std::ops::{Deref, DerefMut};
use std::task::{Context, Poll};
use std::time::Duration;

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};
use tokio::time::{Interval, MissedTickBehavior};

pub(crate) struct Quiet<B> {
    inner: B,
    /// Connections established and not yet closed.
    connections: usize,
    /// How often the inner behaviour is polled while connected.
    period: Duration,
    /// Runs only while connected.
    tick: Option<Interval>,
}

impl<B> Quiet<B> {
    pub(crate) fn new(inner: B, period: Duration) -> Self {
        Self {
            inner,
            connections: 0,
            period,
            tick: None,
        }
    }
}

impl<B> Deref for Quiet<B> {
    type Target = B;
    fn deref(&self) -> &B {
        &self.inner
    }
}

impl<B> DerefMut for Quiet<B> {
    fn deref_mut(&mut self) -> &mut B {
        &mut self.inner
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for Quiet<B> {
    type ConnectionHandler = B::ConnectionHandler;
    type ToSwarm = B::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.inner.handle_established_inbound_connection(
            connection_id,
            peer,
            local_addr,
            remote_addr,
        )
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(
            connection_id,
            maybe_peer,
            addresses,
            effective_role,
        )
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.inner.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match &event {
            FromSwarm::ConnectionEstablished(_) => self.connections += 1,
            FromSwarm::ConnectionClosed(_) => {
                self.connections = self.connections.saturating_sub(1);
            }
            _ => {}
        }
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner
            .on_connection_handler_event(peer_id, connection_id, event);
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        // Without connections there is nobody to tell anything: every event
        // of the inner behaviour comes from a call (a connection's event, a
        // subscription, a publish), after which the swarm polls again.
        if self.connections == 0 {
            self.tick = None;
            return Poll::Pending;
        }
        let period = self.period;
        let tick = self.tick.get_or_insert_with(|| {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            tick
        });
        // Until it is pending, so that it wakes this task when next due.
        while tick.poll_tick(cx).is_ready() {}
        self.inner.poll(cx)
    }
}
