//! Proofs of forked logs between hoffnung nodes, on a stream protocol of
//! their own (`/hoffnung/forks/1.0.0`; the p2panda protocol has no message
//! for them). When a peer connects, and whenever this node records a fork,
//! it opens a stream and writes every proof it holds, then closes it. The
//! receiver checks each proof by itself (`ForkProof::new`) and records the
//! proofs of logs it holds; a peer that sends a false proof is logged and
//! the stream dropped.
//!
//! Framing: per proof, each entry as a 4-byte big-endian length and its
//! bytes; the end of the stream ends the list.

use futures::{AsyncReadExt, AsyncWriteExt};
use hoffnung_core::ForkProof;
use hoffnung_store::Store;
use libp2p::{PeerId, Stream};
use libp2p_stream::Control;
use std::time::Duration;

/// The stream protocol of fork proofs.
pub const FORKS_PROTOCOL: libp2p::StreamProtocol =
    libp2p::StreamProtocol::new("/hoffnung/forks/1.0.0");

/// Most proofs one stream carries (the most recently learnt are sent).
const MAX_PROOFS: usize = 4_096;
/// A stream that has not finished by then is dropped.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The proof streams peers open to this node (`None`: logged, cannot listen).
pub(crate) fn accept(control: &mut Control) -> Option<libp2p_stream::IncomingStreams> {
    control
        .accept(FORKS_PROTOCOL)
        .map_err(|e| tracing::error!(error = %e, "cannot accept fork proof streams"))
        .ok()
}

/// Sends this node's proofs to `peer` now and after every recorded fork;
/// runs as long as the peer's task (which drops it).
pub(crate) async fn offer(mut control: Control, peer: PeerId, store: Store) {
    let mut changed = store.forks_changed();
    loop {
        if let Err(e) = send(&mut control, peer, &store).await {
            tracing::debug!(%peer, error = %e, "fork proofs not sent");
        }
        if changed.changed().await.is_err() {
            // The store is closing: the peer's task ends this.
            return std::future::pending().await;
        }
    }
}

async fn send(control: &mut Control, peer: PeerId, store: &Store) -> Result<(), String> {
    let records = store.forks().await.map_err(|e| e.to_string())?;
    if records.is_empty() {
        return Ok(());
    }
    let mut stream = control
        .open_stream(peer, FORKS_PROTOCOL)
        .await
        .map_err(|e| e.to_string())?;
    let skip = records.len().saturating_sub(MAX_PROOFS);
    let mut out = Vec::new();
    for r in &records[skip..] {
        for entry in [r.proof.a(), r.proof.b()] {
            out.extend_from_slice(&(entry.as_bytes().len() as u32).to_be_bytes());
            out.extend_from_slice(entry.as_bytes());
        }
    }
    tokio::time::timeout(TIMEOUT, async {
        stream.write_all(&out).await?;
        stream.close().await
    })
    .await
    .map_err(|_| "timed out".to_string())?
    .map_err(|e| e.to_string())?;
    tracing::debug!(%peer, proofs = records.len() - skip, "fork proofs sent");
    Ok(())
}

/// Reads a peer's proofs, checks each and records them.
pub(crate) async fn receive(peer: PeerId, mut stream: Stream, store: Store) {
    let read = async {
        let mut proofs = Vec::new();
        while proofs.len() < MAX_PROOFS {
            let Some(a) = read_entry(&mut stream).await? else {
                break;
            };
            let b = read_entry(&mut stream)
                .await?
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
            proofs.push((a, b));
        }
        Ok::<_, std::io::Error>(proofs)
    };
    let proofs = match tokio::time::timeout(TIMEOUT, read).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "fork proofs not read"),
        Err(_) => return tracing::debug!(%peer, "fork proofs not read in time"),
    };
    let mut checked = Vec::with_capacity(proofs.len());
    for (a, b) in proofs {
        match ForkProof::new(&a, &b) {
            Ok(p) => checked.push(p),
            Err(e) => {
                tracing::warn!(%peer, error = %e, "a peer sent a false proof of a fork");
                return;
            }
        }
    }
    if let Err(e) = store.record_forks(checked).await {
        tracing::warn!(%peer, error = %e, "fork proofs not recorded");
    }
}

/// One length-prefixed entry; `None` at the end of the stream.
async fn read_entry(stream: &mut Stream) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len);
    if len as usize > hoffnung_core::entry::MAX_ENTRY_SIZE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "entry too long",
        ));
    }
    let mut bytes = vec![0; len as usize];
    stream.read_exact(&mut bytes).await?;
    Ok(Some(bytes))
}
