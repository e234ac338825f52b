//! The threads WebSocket connections run on. A subscription delivery is a
//! GraphQL execution and a frame per subscriber, so a document published
//! to thousands of subscribers is thousands of executions; on the threads
//! that serve publish, `nextArgs` and `/health`, those waited behind them
//! (publish p99 88 ms with 5,000 subscriptions). Connections run on their
//! own runtime whose threads yield the CPU to the rest of the node: they use
//! whatever the node leaves idle.

use tokio::runtime::{Builder, Handle, Runtime};

/// Scheduler niceness of the WebSocket threads (0 is the node's own; 19 the
/// lowest priority).
const NICENESS: i32 = 10;

/// The WebSocket runtime; dropping it stops its tasks without waiting (it
/// may be dropped inside the node's own runtime).
pub(crate) struct WebSocketRuntime {
    runtime: Option<Runtime>,
}

impl WebSocketRuntime {
    /// The runtime, or none (connections then run on the node's own
    /// threads) if the system refuses threads.
    pub(crate) fn start() -> Self {
        let runtime = low_priority_runtime("hoffnung-ws")
            .inspect_err(|e| tracing::warn!(error = %e, "WebSockets run on the node's threads"))
            .ok();
        Self { runtime }
    }

    pub(crate) fn handle(&self) -> Option<&Handle> {
        self.runtime.as_ref().map(Runtime::handle)
    }
}

impl Drop for WebSocketRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A runtime of as many threads as cores, each of a lower scheduling
/// priority than the process's other threads (on Linux).
pub fn low_priority_runtime(name: &str) -> std::io::Result<Runtime> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .on_thread_start(lower_priority)
        .enable_all()
        .build()
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // Linux applies a "process" priority given a thread id to that thread.
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), NICENESS) {
        tracing::debug!(error = %e, "WebSocket threads keep the node's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}
