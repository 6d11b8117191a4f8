//! The bodies the proxy streams between a client and an upstream, a frame at a time (never
//! buffered whole): [`Metered`] spends every data byte on the run's meter before passing it on
//! and ends the body with an error when the meter refuses (which cuts the exchange), and
//! [`Driven`] polls the upstream connection while its response body is read, so no task
//! outlives the client connection that owns the body.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use hyper::body::{Body, Bytes, Frame, SizeHint};

use crate::meter::{Cut, Meter};

/// Any body error, as `hyper` wants it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A pending [`Meter::spend`].
type Spend = Pin<Box<dyn Future<Output = Result<(), Cut>> + Send>>;

/// Largest piece of a data frame spent and passed on at once: a large upstream frame is
/// split, so a cut lands where the budget ends and what fit before it is delivered.
const PIECE: usize = 16 * 1024;

/// `inner`, with every data byte spent on `meter` before it is passed on.
pub struct Metered<B> {
    inner: B,
    meter: Arc<Meter>,
    /// What is left of the data frame being passed on, piece by piece.
    rest: Bytes,
    /// A frame read and waiting for its bytes to be accounted.
    held: Option<Frame<Bytes>>,
    /// The accounting of `held`.
    spend: Option<Spend>,
}

impl<B> std::fmt::Debug for Metered<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metered")
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

impl<B> Metered<B> {
    /// Meters `inner` on `meter`.
    pub fn new(inner: B, meter: Arc<Meter>) -> Self {
        Self {
            inner,
            meter,
            rest: Bytes::new(),
            held: None,
            spend: None,
        }
    }
}

fn data_len(frame: &Frame<Bytes>) -> usize {
    frame.data_ref().map_or(0, Bytes::len)
}

impl<B> Body for Metered<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            if let Some(spend) = this.spend.as_mut() {
                let spent = ready!(spend.as_mut().poll(cx));
                this.spend = None;
                let frame = this.held.take();
                return Poll::Ready(match spent {
                    Ok(()) => frame.map(Ok),
                    Err(cut) => {
                        tracing::debug!(reason = %cut, "egress exchange cut");
                        Some(Err(Box::new(cut)))
                    }
                });
            }
            if !this.rest.is_empty() {
                let piece = this.rest.split_to(this.rest.len().min(PIECE));
                let (n, meter) = (piece.len() as u64, this.meter.clone());
                this.held = Some(Frame::data(piece));
                this.spend = Some(Box::pin(async move { meter.spend(n).await }));
                continue;
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => this.rest = data,
                    Err(other) => return Poll::Ready(Some(Ok(other))),
                },
                other => return Poll::Ready(other.map(|r| r.map_err(Into::into))),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_none() && self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let hint = self.inner.size_hint();
        let held = (self.held.as_ref().map_or(0, data_len) + self.rest.len()) as u64;
        let mut total = SizeHint::new();
        total.set_lower(hint.lower().saturating_add(held));
        if let Some(upper) = hint.upper() {
            total.set_upper(upper.saturating_add(held));
        }
        total
    }
}

/// `body`, polling `driver` (the upstream connection that feeds it) whenever it is polled,
/// until either ends.
pub struct Driven<B, F> {
    body: B,
    driver: Option<Pin<Box<F>>>,
}

impl<B, F> std::fmt::Debug for Driven<B, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driven")
            .field("driving", &self.driver.is_some())
            .finish_non_exhaustive()
    }
}

impl<B, F> Driven<B, F> {
    /// `body`, fed by `driver` (`None` when it already ended).
    pub fn new(body: B, driver: Option<Pin<Box<F>>>) -> Self {
        Self { body, driver }
    }
}

impl<B, F> Body for Driven<B, F>
where
    B: Body + Unpin,
    F: Future,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.get_mut();
        if let Some(driver) = this.driver.as_mut() {
            if driver.as_mut().poll(cx).is_ready() {
                this.driver = None;
            }
        }
        let frame = ready!(Pin::new(&mut this.body).poll_frame(cx));
        if frame.is_none() {
            this.driver = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full};

    use super::*;
    use crate::meter::Bounds;

    #[tokio::test]
    async fn metered_bodies_pass_their_bytes_on_and_count_them() {
        let meter = Arc::new(Meter::new(Bounds::default(), None));
        let body = Metered::new(Full::new(Bytes::from_static(b"hello")), meter.clone());
        assert_eq!(body.size_hint().exact(), Some(5));
        let bytes = body.collect().await.expect("within bounds").to_bytes();
        assert_eq!(&bytes[..], b"hello");
        assert_eq!(meter.stats().bytes, 5);
    }

    #[tokio::test]
    async fn a_metered_body_past_the_byte_bound_ends_in_an_error() {
        let bounds = Bounds {
            max_bytes: 4,
            ..Bounds::default()
        };
        let meter = Arc::new(Meter::new(bounds, None));
        let body = Metered::new(Full::new(Bytes::from_static(b"hello")), meter.clone());
        assert!(body.collect().await.is_err());
        assert_eq!(meter.stats().bytes, 0);
    }
}
