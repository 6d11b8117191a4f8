//! A typed async client for the Pyth-On API, used by the CLI and the end-to-end tests.
//!
//! Runs ([`Client::execute`], streamed with [`Client::execute_stream`]) and sessions
//! ([`Client::create_session`], cells with [`Client::execute_cell`] or streamed with
//! [`Client::execute_cell_stream`], files with [`Client::put_session_file`] and its
//! siblings) share one Server-Sent Events reader, [`EventStream`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), pyth_on_client::ClientError> {
//! let client = pyth_on_client::Client::new("http://127.0.0.1:8080")?;
//! let auth = client.register("ada@example.com", "correct horse battery").await?;
//! let client = client.with_api_key(auth.api_key.unwrap());
//! let run = client.execute(&pyth_on_types::ExecuteRequest {
//!     code: "print('hi')".into(),
//!     ..Default::default()
//! }).await?;
//! assert_eq!(run.output, "hi\n");
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod accounts;
mod sessions;
mod sse;
mod stored;
mod stream;

use std::fmt;

pub use sessions::{encode_path, CellEvent, CellStream};
pub use sse::{EventStream, StreamEvent};
pub use stream::{RunEvent, RunStream};

use pyth_on_types::*;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What can go wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error envelope.
    #[error("{status}: {} ({})", body.error, body.code)]
    Api {
        /// HTTP status.
        status: StatusCode,
        /// The envelope.
        body: ErrorBody,
    },
    /// The server answered something that is not our envelope.
    #[error("unexpected {status} response")]
    Unexpected {
        /// HTTP status.
        status: StatusCode,
    },
    /// Transport or decoding failure.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// A streamed event that is not what the API documents.
    #[error("malformed event: {0}")]
    Event(#[from] serde_json::Error),
    /// A bad base URL.
    #[error("invalid base URL: {0}")]
    BaseUrl(String),
    /// A session file path that cannot be sent as a URL path.
    #[error("invalid file path: {0}")]
    Path(String),
}

impl ClientError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. } | Self::Unexpected { status } => Some(*status),
            Self::Http(e) => e.status(),
            Self::BaseUrl(_) | Self::Event(_) | Self::Path(_) => None,
        }
    }

    /// The error code, when the server answered with the envelope.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { body, .. } => Some(&body.code),
            _ => None,
        }
    }
}

#[derive(Clone)]
enum Credential {
    None,
    ApiKey(String),
    Bearer(String),
}

/// A client bound to one server and, optionally, one credential.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    credential: Credential,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`), without credentials.
    pub fn new(base: &str) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BaseUrl(base));
        }
        let http = reqwest::Client::builder()
            .build()
            .map_err(ClientError::Http)?;
        Ok(Self {
            http,
            base,
            credential: Credential::None,
        })
    }

    /// The same client, authenticating with an API key.
    pub fn with_api_key(&self, key: impl Into<String>) -> Self {
        Self {
            credential: Credential::ApiKey(key.into()),
            ..self.clone()
        }
    }

    /// The same client, authenticating with an access token.
    pub fn with_token(&self, token: impl Into<String>) -> Self {
        Self {
            credential: Credential::Bearer(token.into()),
            ..self.clone()
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A request builder for `path` carrying this client's credential, for raw access.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.http.request(method, format!("{}{}", self.base, path));
        match &self.credential {
            Credential::None => builder,
            Credential::ApiKey(k) => builder.header("x-api-key", k),
            Credential::Bearer(t) => builder.bearer_auth(t),
        }
    }

    async fn send<T: DeserializeOwned>(builder: RequestBuilder) -> Result<T, ClientError> {
        let response = Self::check(builder.send().await?).await?;
        Ok(response.json().await?)
    }

    async fn send_empty(builder: RequestBuilder) -> Result<(), ClientError> {
        Self::check(builder.send().await?).await.map(drop)
    }

    /// The response if it is a success, else its error envelope as an error.
    async fn check(response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = response.bytes().await?;
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ClientError::Api { status, body }),
            Err(_) => Err(ClientError::Unexpected { status }),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        Self::send(self.request(Method::GET, path)).await
    }

    async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        Self::send(self.request(Method::POST, path).json(body)).await
    }

    /// `GET /api/health`.
    pub async fn health(&self) -> Result<HealthResponse, ClientError> {
        self.get("/api/health").await
    }

    /// `GET /api/info`.
    pub async fn info(&self) -> Result<InfoResponse, ClientError> {
        self.get("/api/info").await
    }

    /// `POST /api/register`.
    pub async fn register(&self, email: &str, password: &str) -> Result<AuthResponse, ClientError> {
        self.post(
            "/api/register",
            &AuthRequest {
                email: email.into(),
                password: password.into(),
            },
        )
        .await
    }

    /// `POST /api/login`.
    pub async fn login(&self, email: &str, password: &str) -> Result<AuthResponse, ClientError> {
        self.post(
            "/api/login",
            &AuthRequest {
                email: email.into(),
                password: password.into(),
            },
        )
        .await
    }

    /// `POST /api/verify` with the token in the body.
    pub async fn verify(&self, token: &str) -> Result<VerifyResponse, ClientError> {
        self.post(
            "/api/verify",
            &VerifyRequest {
                token: Some(token.into()),
            },
        )
        .await
    }

    /// `POST /api/refresh`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<AuthResponse, ClientError> {
        self.post(
            "/api/refresh",
            &RefreshRequest {
                refresh_token: refresh_token.into(),
            },
        )
        .await
    }

    /// `POST /api/logout`: ends the sign-in of `refresh_token` (its family revoked).
    pub async fn logout(&self, refresh_token: &str) -> Result<(), ClientError> {
        let body = pyth_on_types::LogoutRequest {
            refresh_token: Some(refresh_token.into()),
        };
        Self::send_empty(self.request(Method::POST, "/api/logout").json(&body)).await
    }

    /// `GET /api/v1/me`: the caller's account.
    pub async fn me(&self) -> Result<UserInfo, ClientError> {
        self.get("/api/v1/me").await
    }

    /// `GET /api/v1/usage`: the caller's use of each quota today (UTC), with its limits.
    pub async fn usage(&self) -> Result<pyth_on_types::Usage, ClientError> {
        self.get("/api/v1/usage").await
    }

    /// `PUT /api/v1/zk/code/{name}` with a payload encrypted by the caller.
    pub async fn put_zk_code(
        &self,
        name: &str,
        payload: &serde_json::Value,
    ) -> Result<EncryptedCodeMetadata, ClientError> {
        Self::send(
            self.request(Method::PUT, &format!("/api/v1/zk/code/{name}"))
                .json(payload),
        )
        .await
    }

    /// `POST /api/v1/zk/execute/{name}`.
    pub async fn zk_execute(
        &self,
        name: &str,
        request: &ZkExecuteRequest,
    ) -> Result<ExecuteResponse, ClientError> {
        self.post(&format!("/api/v1/zk/execute/{name}"), request)
            .await
    }

    /// `POST /api/v1/execute`.
    pub async fn execute(&self, request: &ExecuteRequest) -> Result<ExecuteResponse, ClientError> {
        self.post("/api/v1/execute", request).await
    }

    /// `POST /api/v1/generate`.
    pub async fn generate(
        &self,
        request: &GenerateRequest,
    ) -> Result<GenerateResponse, ClientError> {
        self.post("/api/v1/generate", request).await
    }

    /// `PUT /api/v1/secrets/{name}`.
    pub async fn put_secret(&self, name: &str, value: &str) -> Result<SecretMetadata, ClientError> {
        Self::send(
            self.request(Method::PUT, &format!("/api/v1/secrets/{name}"))
                .json(&SecretInput {
                    value: value.into(),
                }),
        )
        .await
    }

    /// `DELETE /api/v1/secrets/{name}`.
    pub async fn delete_secret(&self, name: &str) -> Result<(), ClientError> {
        Self::send_empty(self.request(Method::DELETE, &format!("/api/v1/secrets/{name}"))).await
    }

    /// `GET /api/v1/secrets`.
    pub async fn list_secrets(&self) -> Result<SecretList, ClientError> {
        self.get("/api/v1/secrets").await
    }

    /// `GET /api/v1/keys`.
    pub async fn list_keys(&self) -> Result<KeyList, ClientError> {
        self.get("/api/v1/keys").await
    }

    /// `POST /api/v1/keys`.
    pub async fn create_key(&self, name: &str) -> Result<CreatedKey, ClientError> {
        self.post("/api/v1/keys", &CreateKeyRequest { name: name.into() })
            .await
    }

    /// `DELETE /api/v1/keys/{id}`.
    pub async fn revoke_key(&self, id: uuid::Uuid) -> Result<(), ClientError> {
        Self::send_empty(self.request(Method::DELETE, &format!("/api/v1/keys/{id}"))).await
    }

    /// `GET /api/v1/audit` with optional `limit`, `before` and `action`.
    pub async fn audit(
        &self,
        limit: Option<u32>,
        before: Option<&str>,
        action: Option<&str>,
    ) -> Result<AuditPage, ClientError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(l) = limit {
            query.push(("limit", l.to_string()));
        }
        if let Some(b) = before {
            query.push(("before", b.to_string()));
        }
        if let Some(a) = action {
            query.push(("action", a.to_string()));
        }
        Self::send(self.request(Method::GET, "/api/v1/audit").query(&query)).await
    }

    /// `GET /api/v1/audit/verify`.
    pub async fn verify_audit(&self) -> Result<AuditVerification, ClientError> {
        self.get("/api/v1/audit/verify").await
    }
}
