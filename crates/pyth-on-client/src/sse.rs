//! Server-Sent Events as the API sends them (`Accept: text/event-stream`): blocks of `event:`
//! and `data:` lines read one at a time from a response and turned into a typed event by
//! [`StreamEvent`]. Streamed runs and streamed cells share this reader.

use std::marker::PhantomData;

use crate::ClientError;

/// An event type a stream yields: how one `event:` name and its `data:` become an event, and
/// which events are the last of their stream.
pub trait StreamEvent: Sized {
    /// The event named `name` with `data` (its JSON); `None` for an event this client does
    /// not know, which is skipped.
    fn parse(name: &str, data: &str) -> Result<Option<Self>, ClientError>;

    /// Whether nothing follows this event (a result or an error).
    fn is_last(&self) -> bool;
}

/// The events of one streamed response. Dropping it closes the connection.
///
/// A server that does not stream the route answers JSON instead of events: that whole answer
/// is then read as one `result` event.
#[derive(Debug)]
pub struct EventStream<E> {
    response: reqwest::Response,
    buffer: Vec<u8>,
    done: bool,
    whole_json: bool,
    events: PhantomData<fn() -> E>,
}

impl<E: StreamEvent> EventStream<E> {
    /// Reads `response`'s body as events.
    pub(crate) fn new(response: reqwest::Response) -> Self {
        let whole_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        Self {
            response,
            buffer: Vec::new(),
            done: false,
            whole_json,
            events: PhantomData,
        }
    }

    /// The next event; `None` after the last one (or when the stream ended early).
    pub async fn next(&mut self) -> Option<Result<E, ClientError>> {
        if self.whole_json && !self.done {
            self.done = true;
            return self.whole_answer().await.transpose();
        }
        while !self.done {
            if let Some(end) = find_blank_line(&self.buffer) {
                let block: Vec<u8> = self.buffer.drain(..end.1).collect();
                let (name, data) = split_block(&block[..end.0]);
                match E::parse(&name, &data) {
                    Ok(Some(event)) => {
                        self.done = event.is_last();
                        return Some(Ok(event));
                    }
                    Ok(None) => continue, // a comment (keep-alive) or an unknown event
                    Err(e) => return Some(Err(e)),
                }
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.buffer.extend_from_slice(&bytes),
                Ok(None) => self.done = true,
                Err(e) => return Some(Err(e.into())),
            }
        }
        None
    }

    /// The whole JSON answer of a server that did not stream, as a `result` event.
    async fn whole_answer(&mut self) -> Result<Option<E>, ClientError> {
        while let Some(bytes) = self.response.chunk().await? {
            self.buffer.extend_from_slice(&bytes);
        }
        E::parse("result", &String::from_utf8_lossy(&self.buffer))
    }
}

/// The end of the first event block: (where its text ends, where the next begins).
pub(crate) fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// One event block's name (`message` when it has no `event:` line; empty for a comment-only
/// block's data) and its `data:` lines joined by newlines.
pub(crate) fn split_block(block: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(block);
    let (mut name, mut data) = ("message", String::new());
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            name = v.trim();
        } else if let Some(v) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    (name.to_string(), data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_splits_into_its_name_and_its_data_lines_joined() {
        let (name, data) = split_block(b"event: stdout\ndata: {\"a\":\ndata:1}");
        assert_eq!((name.as_str(), data.as_str()), ("stdout", "{\"a\":\n1}"));
        assert_eq!(split_block(b":keep-alive").0, "message");
    }

    #[test]
    fn a_block_ends_at_the_first_blank_line_in_either_line_ending() {
        assert_eq!(find_blank_line(b"a\n\nb"), Some((1, 3)));
        assert_eq!(find_blank_line(b"a\r\n\r\nb"), Some((1, 5)));
        assert_eq!(find_blank_line(b"a\nb"), None);
    }
}
