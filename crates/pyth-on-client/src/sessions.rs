//! Sessions (`/api/v1/sessions`): open, list, look at and end them, run cells in them (whole
//! or streamed as [`CellEvent`]s), and move files in and out of their working directory.

use pyth_on_types::{
    CellRequest, CellResponse, CellStartEvent, CreateSessionRequest, ErrorBody, InterruptResponse,
    RunOutputEvent, SessionFile, SessionFileList, SessionInfo, SessionList,
};
use reqwest::{header, Method};
use uuid::Uuid;

use crate::sse::{EventStream, StreamEvent};
use crate::{Client, ClientError};

/// One event of a streamed cell.
#[derive(Debug, Clone, PartialEq)]
pub enum CellEvent {
    /// The cell started in this session.
    Start {
        /// The session's id.
        session_id: Uuid,
    },
    /// Text the cell wrote to stdout (secret values masked).
    Stdout(String),
    /// Text the cell wrote to stderr.
    Stderr(String),
    /// The cell's answer; the last event.
    Result(Box<CellResponse>),
    /// The cell failed in the sandbox (the `Error` shape); the last event.
    Error(ErrorBody),
}

/// The events of a streamed cell. Dropping it closes the connection.
pub type CellStream = EventStream<CellEvent>;

impl StreamEvent for CellEvent {
    fn parse(name: &str, data: &str) -> Result<Option<Self>, ClientError> {
        let event = match name {
            "start" => CellEvent::Start {
                session_id: serde_json::from_str::<CellStartEvent>(data)?.session_id,
            },
            "stdout" => CellEvent::Stdout(serde_json::from_str::<RunOutputEvent>(data)?.text),
            "stderr" => CellEvent::Stderr(serde_json::from_str::<RunOutputEvent>(data)?.text),
            "result" => CellEvent::Result(Box::new(serde_json::from_str(data)?)),
            "error" => CellEvent::Error(serde_json::from_str(data)?),
            _ => return Ok(None),
        };
        Ok(Some(event))
    }

    fn is_last(&self) -> bool {
        matches!(self, CellEvent::Result(_) | CellEvent::Error(_))
    }
}

/// `path` as URL path segments, each percent-encoded (everything but `A-Z a-z 0-9 - . _ ~`),
/// joined by `/`. A `.` or `..` segment is refused: URL resolution would remove it and send
/// the request to another resource.
pub fn encode_path(path: &str) -> Result<String, ClientError> {
    if path.trim_matches('/').is_empty() {
        return Err(ClientError::Path(format!("{path:?} is empty")));
    }
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if segment == "." || segment == ".." {
            return Err(ClientError::Path(format!(
                "{path:?} has a {segment:?} segment"
            )));
        }
        if i > 0 {
            out.push('/');
        }
        for byte in segment.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    Ok(out)
}

fn session_path(id: Uuid) -> String {
    format!("/api/v1/sessions/{id}")
}

fn file_path(id: Uuid, path: &str) -> Result<String, ClientError> {
    Ok(format!(
        "/api/v1/sessions/{id}/files/{}",
        encode_path(path)?
    ))
}

impl Client {
    /// `POST /api/v1/sessions`.
    pub async fn create_session(
        &self,
        request: &CreateSessionRequest,
    ) -> Result<SessionInfo, ClientError> {
        self.post("/api/v1/sessions", request).await
    }

    /// `GET /api/v1/sessions`: the caller's open sessions, oldest first.
    pub async fn list_sessions(&self) -> Result<SessionList, ClientError> {
        self.get("/api/v1/sessions").await
    }

    /// `GET /api/v1/sessions/{id}`.
    pub async fn get_session(&self, id: Uuid) -> Result<SessionInfo, ClientError> {
        self.get(&session_path(id)).await
    }

    /// `DELETE /api/v1/sessions/{id}`.
    pub async fn delete_session(&self, id: Uuid) -> Result<(), ClientError> {
        Self::send_empty(self.request(Method::DELETE, &session_path(id))).await
    }

    /// `POST /api/v1/sessions/{id}/execute`: one cell, answered when it ends.
    pub async fn execute_cell(
        &self,
        id: Uuid,
        request: &CellRequest,
    ) -> Result<CellResponse, ClientError> {
        self.post(&format!("{}/execute", session_path(id)), request)
            .await
    }

    /// `POST /api/v1/sessions/{id}/interrupt`: interrupts the running cell (its own answer
    /// then says `interrupted`); `interrupted: false` when the session was idle.
    pub async fn interrupt_session(&self, id: Uuid) -> Result<InterruptResponse, ClientError> {
        Self::send(self.request(Method::POST, &format!("{}/interrupt", session_path(id)))).await
    }

    /// `POST /api/v1/sessions/{id}/execute` as a stream of events. A refusal before the cell
    /// starts (`session_busy`, `not_found`) is an `Err` here, as with
    /// [`Client::execute_cell`].
    pub async fn execute_cell_stream(
        &self,
        id: Uuid,
        request: &CellRequest,
    ) -> Result<CellStream, ClientError> {
        let response = self
            .request(Method::POST, &format!("{}/execute", session_path(id)))
            .header(header::ACCEPT, "text/event-stream")
            .json(request)
            .send()
            .await?;
        Ok(EventStream::new(Self::check(response).await?))
    }

    /// `PUT /api/v1/sessions/{id}/files/{path}`: writes `content` to `path` (relative to the
    /// session's working directory), creating its directories.
    pub async fn put_session_file(
        &self,
        id: Uuid,
        path: &str,
        content: impl Into<reqwest::Body>,
    ) -> Result<SessionFile, ClientError> {
        let builder = self
            .request(Method::PUT, &file_path(id, path)?)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(content);
        Self::send(builder).await
    }

    /// `GET /api/v1/sessions/{id}/files/{path}`: the file's bytes.
    pub async fn get_session_file(&self, id: Uuid, path: &str) -> Result<Vec<u8>, ClientError> {
        let response = self
            .request(Method::GET, &file_path(id, path)?)
            .send()
            .await?;
        let bytes = Self::check(response).await?.bytes().await?;
        Ok(bytes.to_vec())
    }

    /// `GET /api/v1/sessions/{id}/files?dir=`: one directory (the working directory itself
    /// without `dir`), not recursive.
    pub async fn list_session_files(
        &self,
        id: Uuid,
        dir: Option<&str>,
    ) -> Result<SessionFileList, ClientError> {
        let mut builder = self.request(Method::GET, &format!("{}/files", session_path(id)));
        if let Some(dir) = dir {
            builder = builder.query(&[("dir", dir)]);
        }
        Self::send(builder).await
    }

    /// `DELETE /api/v1/sessions/{id}/files/{path}`.
    pub async fn delete_session_file(&self, id: Uuid, path: &str) -> Result<(), ClientError> {
        Self::send_empty(self.request(Method::DELETE, &file_path(id, path)?)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_segment_of_a_file_path_is_percent_encoded_and_slashes_are_kept() {
        assert_eq!(encode_path("data/in.csv").unwrap(), "data/in.csv");
        assert_eq!(
            encode_path("my dir/a?b#c%d.txt").unwrap(),
            "my%20dir/a%3Fb%23c%25d.txt"
        );
        assert_eq!(encode_path("é").unwrap(), "%C3%A9");
        assert_eq!(encode_path("a..b/.hidden").unwrap(), "a..b/.hidden");
    }

    #[test]
    fn a_path_that_url_resolution_would_rewrite_or_an_empty_one_is_refused() {
        for bad in ["..", "a/../b", "./a", "a/.", "", "/", "//"] {
            assert!(
                matches!(encode_path(bad), Err(ClientError::Path(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_cell_s_events_are_read_by_name_and_its_result_is_the_last() {
        let id = Uuid::nil();
        let start = CellEvent::parse("start", &format!("{{\"sessionId\":\"{id}\"}}")).unwrap();
        assert_eq!(start, Some(CellEvent::Start { session_id: id }));
        let out = CellEvent::parse("stderr", r#"{"text":"x"}"#).unwrap();
        assert_eq!(out, Some(CellEvent::Stderr("x".into())));
        assert_eq!(CellEvent::parse("ping", "{}").unwrap(), None);
        let result = r#"{"stdout":"","stderr":"","results":[],"resultsTruncated":false,
            "error":null,"timedOut":false,"outputTruncated":false,"memoryExceeded":false,
            "sessionEnded":false,"exitCode":null,"durationMs":1.5}"#;
        let result = CellEvent::parse("result", result).unwrap().unwrap();
        assert!(result.is_last());
    }
}
