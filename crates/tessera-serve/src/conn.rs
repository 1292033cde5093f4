//! Client connections: admitted under `server.max_connections`, closed when idle longer
//! than `server.idle_timeout` (a slow or abandoned client cannot hold a connection — or a
//! half-sent request — forever).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

use crate::state::{ConnectionPermit, Shared};

/// A connection that fails with `TimedOut` once nothing was read or written for the idle
/// timeout, and that holds its connection permit until dropped.
pub struct Connection<S> {
    inner: S,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    _permit: ConnectionPermit,
}

impl<S> Connection<S> {
    pub fn new(inner: S, idle: Duration, permit: ConnectionPermit) -> Connection<S> {
        Connection {
            inner,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            _permit: permit,
        }
    }

    fn active(&mut self) {
        let idle = self.idle;
        self.timer.as_mut().reset(Instant::now() + idle);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.timer.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "connection idle too long (server.idle_timeout)",
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for Connection<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.active();
                }
                Poll::Ready(r)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Connection<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                self.active();
                Poll::Ready(Ok(n))
            }
            Poll::Ready(e) => Poll::Ready(e),
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Accepts TCP connections for one interface, each admitted by [`Shared`]; a connection
/// over the limit is closed at once (and logged).
pub struct Admitting {
    pub listener: TcpListener,
    pub shared: Arc<Shared>,
    pub interface: &'static str,
}

impl Admitting {
    pub async fn next(&self) -> io::Result<(Connection<TcpStream>, std::net::SocketAddr)> {
        loop {
            let (stream, addr) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                // Running out of file descriptors and the like: wait and go on.
                Err(e) => {
                    tracing::warn!(interface = self.interface, "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match self.shared.admit_connection(self.interface) {
                Ok(permit) => {
                    let _ = stream.set_nodelay(true);
                    return Ok((
                        Connection::new(stream, self.shared.settings.idle_timeout, permit),
                        addr,
                    ));
                }
                Err(e) => {
                    tracing::warn!(interface = self.interface, %addr, "connection refused: {e}");
                    drop(stream);
                }
            }
        }
    }
}
