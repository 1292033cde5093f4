//! A bound on the size of each frontend message, checked as its header passes.
//!
//! pgwire buffers a whole message before decoding it and accepts up to 1 GB (the
//! protocol's limit), so one client could make the server hold a gigabyte per
//! connection. [`Bounded`] reads the frames' lengths from the byte stream as it goes by
//! and, when a message announces more than `server.max_request_size`, reads its body
//! itself into a small scratch buffer and throws it away, then fails the read: pgwire is
//! handed what came before the message and none of it (at most the part of its 5-byte
//! head an earlier read delivered), and the client, having sent it all, reads the FATAL
//! error instead of a reset connection. Otherwise it only looks; the bytes
//! reach pgwire unchanged.
//!
//! Framing (PostgreSQL v3): untyped messages until the startup packet (`length: i32,
//! code: i32, …`; SSLRequest and GSSENCRequest are 8 bytes and another untyped message
//! follows), then typed ones (`type: u8, length: i32, …`, the length counting itself).
//! Startup packets are bounded by pgwire (10,000 bytes); this bounds the typed ones.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The codes of the untyped requests that are followed by another untyped message.
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

/// The error a read fails with when a message is over the bound.
#[derive(Debug)]
pub(super) struct TooLarge {
    pub kind: u8,
    pub length: usize,
    pub max: usize,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a `{}` message of {} bytes is larger than server.max_request_size ({} bytes)",
            char::from(self.kind),
            self.length,
            self.max
        )
    }
}

impl std::error::Error for TooLarge {}

/// Where the reader is in the stream of frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// Reading an untyped message's 8-byte head (length, code).
    UntypedHead { head: [u8; 8], got: usize },
    /// Skipping the rest of a message; then `next`.
    Body { left: usize, typed_next: bool },
    /// Reading a typed message's 5-byte head (type, length).
    TypedHead { head: [u8; 5], got: usize },
    /// Not the protocol (a length below its minimum): pgwire reports it; stop looking.
    Lost,
    /// A message over the bound: `left` bytes of it to throw away, then the error.
    Discard {
        left: usize,
        kind: u8,
        length: usize,
    },
}

pub(super) struct Bounded<S> {
    inner: S,
    max: usize,
    frame: Frame,
}

impl<S> Bounded<S> {
    pub(super) fn new(inner: S, max: usize) -> Bounded<S> {
        Bounded {
            inner,
            max,
            frame: Frame::UntypedHead {
                head: [0; 8],
                got: 0,
            },
        }
    }

    /// Follows the frames through `bytes`, newly read. At a message over the bound it
    /// stops ([`Frame::Discard`], the bytes after its head counted as thrown away) and
    /// returns how many of `bytes` come before that message's head: only those may be
    /// handed on, so pgwire never holds the message whole, however it was read.
    fn scan(&mut self, mut bytes: &[u8]) -> Option<usize> {
        let total = bytes.len();
        while !bytes.is_empty() {
            let at = total - bytes.len();
            match &mut self.frame {
                Frame::Lost => return None,
                Frame::Discard { left, .. } => {
                    *left = left.saturating_sub(bytes.len());
                    return Some(at);
                }
                Frame::Body { left, typed_next } => {
                    let n = (*left).min(bytes.len());
                    *left -= n;
                    bytes = &bytes[n..];
                    if *left == 0 {
                        self.frame = if *typed_next {
                            Frame::TypedHead {
                                head: [0; 5],
                                got: 0,
                            }
                        } else {
                            Frame::UntypedHead {
                                head: [0; 8],
                                got: 0,
                            }
                        };
                    }
                }
                Frame::UntypedHead { head, got } => {
                    let n = (head.len() - *got).min(bytes.len());
                    head[*got..*got + n].copy_from_slice(&bytes[..n]);
                    *got += n;
                    bytes = &bytes[n..];
                    if *got == head.len() {
                        let length = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
                        let code = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
                        let length = length as usize;
                        self.frame = if length < 8 {
                            Frame::Lost
                        } else {
                            let typed_next = code != SSL_REQUEST && code != GSSENC_REQUEST;
                            if length == 8 && typed_next {
                                Frame::TypedHead {
                                    head: [0; 5],
                                    got: 0,
                                }
                            } else if length == 8 {
                                Frame::UntypedHead {
                                    head: [0; 8],
                                    got: 0,
                                }
                            } else {
                                Frame::Body {
                                    left: length - 8,
                                    typed_next,
                                }
                            }
                        };
                    }
                }
                Frame::TypedHead { head, got } => {
                    // Where this message's head began in `bytes` (0: in an earlier read).
                    let starts = if *got == 0 { at } else { 0 };
                    let n = (head.len() - *got).min(bytes.len());
                    head[*got..*got + n].copy_from_slice(&bytes[..n]);
                    *got += n;
                    bytes = &bytes[n..];
                    if *got == head.len() {
                        let kind = head[0];
                        let length =
                            u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
                        if length > self.max {
                            self.frame = Frame::Discard {
                                left: (length - 4).saturating_sub(bytes.len()),
                                kind,
                                length,
                            };
                            return Some(starts);
                        }
                        self.frame = match length {
                            0..4 => Frame::Lost,
                            4 => Frame::TypedHead {
                                head: [0; 5],
                                got: 0,
                            },
                            _ => Frame::Body {
                                left: length - 4,
                                typed_next: true,
                            },
                        };
                    }
                }
            }
        }
        None
    }

    fn too_large(&self) -> Option<TooLarge> {
        match self.frame {
            Frame::Discard { kind, length, .. } => Some(TooLarge {
                kind,
                length,
                max: self.max,
            }),
            _ => None,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while let Frame::Discard { left, kind, .. } = &mut this.frame {
            // A statement (Query, Parse, Bind) is read to its end so the client, done
            // sending, reads the error; anything else this large (a password message
            // claiming a gigabyte) is not the protocol: fail at once.
            if *left > 0 && matches!(kind, b'Q' | b'P' | b'B') {
                let mut scratch = [0u8; 8192];
                let mut discard = ReadBuf::new(&mut scratch[..(*left).min(8192)]);
                std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut discard))?;
                let n = discard.filled().len();
                *left -= n;
                if n > 0 {
                    continue;
                }
            }
            // All of it thrown away (or the client stopped sending): the error.
            let e = this.too_large().expect("in Discard");
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
        }
        let before = buf.filled().len();
        std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if buf.filled().len() > before
            && let Some(keep) = this.scan(&buf.filled()[before..])
        {
            // The message over the bound starts here: pgwire gets what came before it,
            // and the rest is thrown away on the next read (which then fails).
            buf.set_filled(before + keep);
            if keep == 0 {
                return self.poll_read(cx, buf);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn startup() -> Vec<u8> {
        let body = b"\x00\x03\x00\x00user\x00ana\x00\x00";
        let mut v = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    fn typed(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![kind];
        v.extend(((body.len() + 4) as u32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    /// Feeds `bytes` in pieces of `step`, as reads would deliver them; the message over
    /// the bound, if one was met.
    fn feed(b: &mut Bounded<()>, bytes: &[u8], step: usize) -> Option<TooLarge> {
        for c in bytes.chunks(step) {
            b.scan(c);
        }
        b.too_large()
    }

    /// However the bytes arrive, pgwire is handed everything before the large message and
    /// nothing of it; the next read throws the rest away and fails.
    #[tokio::test]
    async fn a_large_message_read_whole_in_one_read_is_not_handed_on() {
        use tokio::io::AsyncReadExt;
        let mut stream = startup();
        stream.extend(typed(b'Q', b"SELECT 1\0"));
        let before = stream.len();
        stream.extend(typed(b'Q', &[b'x'; 300]));
        stream.extend(typed(b'Q', b"SELECT 2\0"));
        let mut b = Bounded::new(stream.as_slice(), 100);
        let mut buf = vec![0u8; 4096];
        let n = b.read(&mut buf).await.unwrap();
        assert_eq!(n, before, "only what comes before the large message");
        let e = b.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("a `Q` message of 304 bytes"), "{e}");
    }

    #[test]
    fn messages_within_the_bound_pass_however_they_are_split() {
        let mut stream = 8u32.to_be_bytes().to_vec();
        stream.extend(SSL_REQUEST.to_be_bytes());
        stream.extend(startup());
        stream.extend(typed(b'p', b"tsr_token\0"));
        stream.extend(typed(b'Q', &[b'x'; 90]));
        stream.extend(typed(b'S', b""));
        for step in [1, 3, 7, stream.len()] {
            let mut b = Bounded::new((), 100);
            assert!(feed(&mut b, &stream, step).is_none());
            assert_eq!(
                b.frame,
                Frame::TypedHead {
                    head: [0; 5],
                    got: 0
                },
                "step {step}"
            );
        }
    }

    #[test]
    fn a_message_over_the_bound_fails_at_its_header() {
        let mut stream = startup();
        stream.extend(typed(b'Q', b"SELECT 1\0"));
        // Only the header of the large one: its body never has to arrive.
        stream.extend([b'Q', 0x7f, 0xff, 0xff, 0xff]);
        let mut b = Bounded::new((), 1 << 20);
        let e = feed(&mut b, &stream, 4).unwrap();
        assert_eq!((e.kind, e.length, e.max), (b'Q', 0x7fff_ffff, 1 << 20));
        // Its body is counted off as it comes, to be thrown away.
        b.scan(&[b'x'; 100]);
        assert_eq!(
            b.frame,
            Frame::Discard {
                left: 0x7fff_ffff - 4 - 100,
                kind: b'Q',
                length: 0x7fff_ffff
            }
        );
        assert_eq!(
            e.to_string(),
            "a `Q` message of 2147483647 bytes is larger than server.max_request_size (1048576 bytes)"
        );
    }

    #[test]
    fn bytes_that_are_not_the_protocol_are_left_to_pgwire() {
        let mut b = Bounded::new((), 16);
        assert!(feed(&mut b, &[0, 0, 0, 2, 9, 9, 9, 9, 0xff, 0xff, 0xff, 0xff], 5).is_none());
        assert_eq!(b.frame, Frame::Lost);
    }
}
