//! A streamed run (`POST /api/v1/execute` with `Accept: text/event-stream`): its Server-Sent
//! Events read one at a time as [`RunEvent`]s, and `POST /api/v1/executions/{id}/cancel`.

use pyth_on_types::{ErrorBody, ExecuteRequest, ExecuteResponse, RunOutputEvent, RunStartEvent};
use reqwest::{header, Method};
use uuid::Uuid;

use crate::{Client, ClientError};

/// One event of a streamed run.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// The run started; its id (for [`Client::cancel`]).
    Start {
        /// The run's `executionId`.
        execution_id: Uuid,
    },
    /// Text the program wrote to stdout (secret values masked).
    Stdout(String),
    /// Text the program wrote to stderr.
    Stderr(String),
    /// The run's answer; the last event.
    Result(Box<ExecuteResponse>),
    /// The run failed in the sandbox (the `Error` shape); the last event.
    Error(ErrorBody),
}

/// The events of a streamed run. Dropping it closes the connection, which stops the run.
#[derive(Debug)]
pub struct RunStream {
    response: reqwest::Response,
    buffer: Vec<u8>,
    done: bool,
}

impl RunStream {
    /// The next event; `None` after the last one (or when the stream ended early).
    pub async fn next(&mut self) -> Option<Result<RunEvent, ClientError>> {
        while !self.done {
            if let Some(end) = find_blank_line(&self.buffer) {
                let block: Vec<u8> = self.buffer.drain(..end.1).collect();
                match parse_event(&block[..end.0]) {
                    Ok(Some(event)) => {
                        self.done = matches!(event, RunEvent::Result(_) | RunEvent::Error(_));
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
}

/// The end of the first event block: (where its text ends, where the next begins).
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
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

/// One event block (`event:` and `data:` lines) as a [`RunEvent`]; `None` for comments and
/// events this client does not know.
fn parse_event(block: &[u8]) -> Result<Option<RunEvent>, ClientError> {
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
    let name = name.to_string();
    let event = match name.as_str() {
        "start" => RunEvent::Start {
            execution_id: serde_json::from_str::<RunStartEvent>(&data)?.execution_id,
        },
        "stdout" => RunEvent::Stdout(serde_json::from_str::<RunOutputEvent>(&data)?.text),
        "stderr" => RunEvent::Stderr(serde_json::from_str::<RunOutputEvent>(&data)?.text),
        "result" => RunEvent::Result(Box::new(serde_json::from_str(&data)?)),
        "error" => RunEvent::Error(serde_json::from_str(&data)?),
        _ => return Ok(None),
    };
    Ok(Some(event))
}

impl Client {
    /// `POST /api/v1/execute` as a stream of events. A refusal before the run starts is an
    /// `Err` here, as with [`Client::execute`].
    pub async fn execute_stream(&self, request: &ExecuteRequest) -> Result<RunStream, ClientError> {
        let response = self
            .request(Method::POST, "/api/v1/execute")
            .header(header::ACCEPT, "text/event-stream")
            .json(request)
            .send()
            .await?;
        let response = Self::check(response).await?;
        Ok(RunStream {
            response,
            buffer: Vec::new(),
            done: false,
        })
    }

    /// `POST /api/v1/executions/{id}/cancel`.
    pub async fn cancel(&self, execution_id: Uuid) -> Result<(), ClientError> {
        let path = format!("/api/v1/executions/{execution_id}/cancel");
        Self::send_empty(self.request(Method::POST, &path)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_block_becomes_its_event_and_comments_are_skipped() {
        let out = parse_event(b"event: stdout\ndata: {\"text\":\"a\\nb\"}").unwrap();
        assert_eq!(out, Some(RunEvent::Stdout("a\nb".into())));
        assert_eq!(parse_event(b":keep-alive").unwrap(), None);
        assert_eq!(find_blank_line(b"a\n\nb"), Some((1, 3)));
        assert_eq!(find_blank_line(b"a\r\n\r\nb"), Some((1, 5)));
    }
}
