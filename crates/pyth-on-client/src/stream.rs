//! A streamed run (`POST /api/v1/execute` with `Accept: text/event-stream`): its Server-Sent
//! Events read one at a time as [`RunEvent`]s, and `POST /api/v1/executions/{id}/cancel`.

use pyth_on_types::{ErrorBody, ExecuteRequest, ExecuteResponse, RunOutputEvent, RunStartEvent};
use reqwest::{header, Method};
use uuid::Uuid;

use crate::sse::{EventStream, StreamEvent};
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
pub type RunStream = EventStream<RunEvent>;

impl StreamEvent for RunEvent {
    fn parse(name: &str, data: &str) -> Result<Option<Self>, ClientError> {
        let event = match name {
            "start" => RunEvent::Start {
                execution_id: serde_json::from_str::<RunStartEvent>(data)?.execution_id,
            },
            "stdout" => RunEvent::Stdout(serde_json::from_str::<RunOutputEvent>(data)?.text),
            "stderr" => RunEvent::Stderr(serde_json::from_str::<RunOutputEvent>(data)?.text),
            "result" => RunEvent::Result(Box::new(serde_json::from_str(data)?)),
            "error" => RunEvent::Error(serde_json::from_str(data)?),
            _ => return Ok(None),
        };
        Ok(Some(event))
    }

    fn is_last(&self) -> bool {
        matches!(self, RunEvent::Result(_) | RunEvent::Error(_))
    }
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
        Ok(EventStream::new(Self::check(response).await?))
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
    fn a_run_s_events_are_read_by_name_and_unknown_ones_skipped() {
        let out = RunEvent::parse("stdout", "{\"text\":\"a\\nb\"}").unwrap();
        assert_eq!(out, Some(RunEvent::Stdout("a\nb".into())));
        assert!(!out.unwrap().is_last());
        assert_eq!(RunEvent::parse("message", "").unwrap(), None);
        let error = r#"{"error":"e","code":"c","requestId":"r"}"#;
        assert!(RunEvent::parse("error", error).unwrap().unwrap().is_last());
    }
}
