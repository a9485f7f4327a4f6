//! Connection-level limits of the gRPC listener: a cap on open TCP connections, and a timeout
//! for connections that hold no stream.
//!
//! tonic bounds streams per connection, not connections: a peer can open thousands of TCP
//! connections that never start a stream and hold a descriptor each. Every accepted socket is
//! therefore counted (closed at once past `max_connections`) and wrapped in [`GuardedIo`],
//! which fails its reads once the connection has had no open stream for
//! `connection_idle_timeout`; hyper then closes it. A stream marks its connection busy through
//! the [`ConnInfo`] that tonic hands the service in each request's extensions.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tonic::transport::server::Connected;

use crate::shared::{Counters, Shared};

/// How often a repeated refusal is logged again.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// One connection's stream count and idle clock, shared with the streams it carries.
#[derive(Debug)]
pub(crate) struct ConnState {
    streams: AtomicUsize,
    idle_since: Mutex<Instant>,
    reader: Mutex<Option<Waker>>,
}

/// What tonic attaches to each request of a connection (`Request::extensions`).
#[derive(Clone, Debug)]
pub(crate) struct ConnInfo(Arc<ConnState>);

impl ConnInfo {
    /// Marks the connection busy until the returned guard is dropped.
    pub fn open_stream(&self) -> StreamOnConn {
        self.0.streams.fetch_add(1, Ordering::AcqRel);
        StreamOnConn(Arc::clone(&self.0))
    }
}

/// A stream open on a connection; dropping it restarts the connection's idle clock.
#[derive(Debug)]
pub(crate) struct StreamOnConn(Arc<ConnState>);

impl Drop for StreamOnConn {
    fn drop(&mut self) {
        *self.0.idle_since.lock() = Instant::now();
        if self.0.streams.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Wake the reader so that it arms the idle timer.
            if let Some(waker) = self.0.reader.lock().take() {
                waker.wake();
            }
        }
    }
}

/// An accepted socket, counted in `open_connections` while it lives.
pub(crate) struct GuardedIo {
    io: TcpStream,
    state: Arc<ConnState>,
    idle_timeout: Duration,
    timer: Pin<Box<Sleep>>,
    shared: Arc<Shared>,
}

impl GuardedIo {
    /// Admits `io` unless `max_connections` are open already (then it is closed, counted and
    /// logged, and `None` is returned).
    pub fn admit(io: TcpStream, shared: &Arc<Shared>, log: &RateLimitedLog) -> Option<Self> {
        let counters = &shared.counters;
        let cap = shared.config.max_connections;
        let open = counters.open_connections.fetch_add(1, Ordering::AcqRel);
        if open >= cap as u64 {
            counters.open_connections.fetch_sub(1, Ordering::AcqRel);
            Counters::add(&counters.rejected_connections, 1);
            let rejected = counters.rejected_connections.load(Ordering::Relaxed);
            log.warn(|| {
                format!(
                    "max_connections = {cap} connections are open; closing new ones \
                     ({rejected} refused so far)"
                )
            });
            return None;
        }
        let now = Instant::now();
        let idle_timeout = shared.config.connection_idle_timeout;
        Some(Self {
            io,
            state: Arc::new(ConnState {
                streams: AtomicUsize::new(0),
                idle_since: Mutex::new(now),
                reader: Mutex::new(None),
            }),
            idle_timeout,
            timer: Box::pin(tokio::time::sleep_until((now + idle_timeout).into())),
            shared: Arc::clone(shared),
        })
    }

    /// `Err` once the connection has held no stream for the idle timeout; otherwise arms the
    /// timer so that the task wakes when that moment comes.
    fn check_idle(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.state.streams.load(Ordering::Acquire) > 0 {
            return Ok(());
        }
        let deadline = *self.state.idle_since.lock() + self.idle_timeout;
        if self.timer.deadline().into_std() != deadline {
            self.timer.as_mut().reset(deadline.into());
        }
        if Instant::now() < deadline && self.timer.as_mut().poll(cx).is_pending() {
            return Ok(());
        }
        Counters::add(&self.shared.counters.idle_connections_closed, 1);
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "no stream for {:?} (connection_idle_timeout); closing the connection",
                self.idle_timeout
            ),
        ))
    }
}

impl Drop for GuardedIo {
    fn drop(&mut self) {
        self.shared
            .counters
            .open_connections
            .fetch_sub(1, Ordering::AcqRel);
    }
}

impl Connected for GuardedIo {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        ConnInfo(Arc::clone(&self.state))
    }
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(err) = this.check_idle(cx) {
            return Poll::Ready(Err(err));
        }
        *this.state.reader.lock() = Some(cx.waker().clone());
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A warning logged at most once per [`LOG_EVERY`], so a flood of refusals cannot flood the log.
#[derive(Debug, Default)]
pub(crate) struct RateLimitedLog {
    last: Mutex<Option<Instant>>,
}

impl RateLimitedLog {
    pub fn warn(&self, message: impl FnOnce() -> String) {
        let mut last = self.last.lock();
        if last.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!("{}", message());
        }
    }
}
