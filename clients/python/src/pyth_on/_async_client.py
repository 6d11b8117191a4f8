"""The API client. This file is the source of both clients: ``AsyncClient`` is written here
and ``_sync_client.py`` (``Client``) is generated from it by ``scripts/unasync.py`` (a test
checks the two agree). Requests, answers, errors and retries are in ``_core.py``.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, AsyncIterator, Dict, List, Mapping, Optional, Sequence, Type, Union

import httpx

from . import _core
from ._core import Files, RetryPolicy, body, file_path, files_json, seg
from ._models import (
    AdminCreatedUser,
    AdminUser,
    AdminUserPage,
    AuditEntry,
    AuditPage,
    AuditVerification,
    AuthResponse,
    CellResult,
    CreatedKey,
    EncryptedCodeMetadata,
    Event,
    ExecuteResult,
    GenerateResult,
    HealthResponse,
    InfoResponse,
    Invitation,
    InvitationCreated,
    KeyInfo,
    PackageList,
    QuotaOverrides,
    SecretMetadata,
    SessionFile,
    SessionFileList,
    SessionInfo,
    SignIn,
    Usage,
    UserInfo,
    UserQuota,
    VerifyResponse,
    from_json,
    to_json,
)

_V1 = "/api/v1"


class AsyncClient:
    """A client of one Pyth-On server.

    ``base_url`` defaults to ``$PYTH_ON_URL`` (else ``http://127.0.0.1:8080``) and ``api_key``
    to ``$PYTH_ON_API_KEY``. Pass ``token`` (and ``refresh_token``) to use a JWT instead, or
    call :meth:`login`/:meth:`register`, which keep the tokens they get: while a token is held
    it is sent instead of the key, and an expired one is refreshed once automatically (on a
    401) when a refresh token is held. Answers 429/503 are retried per ``retry``
    (:class:`RetryPolicy`); ``timeout`` is httpx's (seconds, or an ``httpx.Timeout``).
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        token: Optional[str] = None,
        refresh_token: Optional[str] = None,
        timeout: Union[float, httpx.Timeout] = 120.0,
        retry: Optional[RetryPolicy] = None,
        max_retries: Optional[int] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.base_url = _core.resolve_url(base_url)
        self.api_key = _core.resolve_key(api_key, token)
        self.token = token
        self.refresh_token = refresh_token
        self.retry = retry or RetryPolicy()
        if max_retries is not None:
            self.retry.max_retries = max_retries
        self._user_id: Optional[str] = None
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            headers={"user-agent": _core.USER_AGENT, "accept": "application/json", **(headers or {})},
        )

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Closes the connections."""
        await self._http.aclose()

    # ---- the transport --------------------------------------------------------------------

    def _auth_headers(self) -> Dict[str, str]:
        if self.token:
            return {"authorization": f"Bearer {self.token}"}
        if self.api_key:
            return {"x-api-key": self.api_key}
        return {}

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Optional[Mapping[str, Any]] = None,
        content: Optional[bytes] = None,
        headers: Optional[Mapping[str, str]] = None,
        auth: bool = True,
        stream: bool = False,
    ) -> httpx.Response:
        """Sends with retries and the automatic refresh; returns a 2xx answer (still open when
        ``stream``, else read) or raises the mapped :class:`PythOnError`."""
        attempt = 0
        refreshed = False
        query = {k: v for k, v in (params or {}).items() if v is not None}
        while True:
            hdrs = {**(self._auth_headers() if auth else {}), **(headers or {})}
            request = self._http.build_request(
                method, path, json=json, params=query or None, content=content, headers=hdrs
            )
            try:
                response = await self._http.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise _core.transport_error(exc) from exc
            if response.status_code < 400:
                if not stream:
                    try:
                        await response.aread()
                    finally:
                        await response.aclose()
                return response
            try:
                await response.aread()
            finally:
                await response.aclose()
            err = _core.error_from(response)
            if (
                response.status_code == 401
                and auth
                and self.token
                and self.refresh_token
                and not refreshed
            ):
                refreshed = True
                await self.refresh()
                continue
            wait = self.retry.delay(attempt, err)
            if wait is None:
                raise err
            attempt += 1
            await asyncio.sleep(wait)

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._send(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def _events(
        self, path: str, payload: Dict[str, Any], *, cell: bool
    ) -> AsyncIterator[Event]:
        response = await self._send(
            "POST", path, json=payload, headers={"accept": "text/event-stream"}, stream=True
        )
        parser = _core.SseParser()
        try:
            async for line in response.aiter_lines():
                got = parser.feed(line)
                if got is not None:
                    event = _core.event_from(got[0], got[1], cell=cell)
                    if event is not None:
                        yield event
        except httpx.HTTPError as exc:
            raise _core.transport_error(exc) from exc
        finally:
            await response.aclose()

    # ---- server ---------------------------------------------------------------------------

    async def health(self) -> HealthResponse:
        """``GET /api/health`` (readiness; a 503 ``degraded`` answer is returned, not raised)."""
        response = await self._http.get("/api/health")
        return from_json(HealthResponse, response.json())

    async def live(self) -> bool:
        """``GET /api/health/live``."""
        response = await self._http.get("/api/health/live")
        return response.status_code == 200

    async def info(self) -> InfoResponse:
        """``GET /api/info``: version, languages, limits, features."""
        return from_json(InfoResponse, await self._json("GET", "/api/info", auth=False))

    async def openapi(self) -> Dict[str, Any]:
        """``GET /api/openapi.json``."""
        doc: Dict[str, Any] = await self._json("GET", "/api/openapi.json", auth=False)
        return doc

    # ---- auth -----------------------------------------------------------------------------

    def _keep(self, answer: AuthResponse) -> AuthResponse:
        self.token = answer.token
        self.refresh_token = answer.refresh_token or self.refresh_token
        self._user_id = answer.user.id
        return answer

    async def register(
        self, email: str, password: str, *, invitation: Optional[str] = None
    ) -> AuthResponse:
        """``POST /api/register``; keeps the tokens (``api_key`` in the answer is shown once)."""
        data = await self._json(
            "POST", "/api/register", json=body(email=email, password=password, invitation=invitation), auth=False
        )
        return self._keep(from_json(AuthResponse, data))

    async def login(self, email: str, password: str) -> AuthResponse:
        """``POST /api/login``; keeps the tokens."""
        data = await self._json(
            "POST", "/api/login", json=body(email=email, password=password), auth=False
        )
        return self._keep(from_json(AuthResponse, data))

    async def refresh(self) -> AuthResponse:
        """``POST /api/refresh`` with the refresh token held; keeps the new pair."""
        if not self.refresh_token:
            raise ValueError("no refresh token held: log in first")
        data = await self._json(
            "POST", "/api/refresh", json=body(refresh_token=self.refresh_token), auth=False
        )
        return self._keep(from_json(AuthResponse, data))

    async def verify(self, token: Optional[str] = None) -> VerifyResponse:
        """``POST /api/verify`` of ``token`` (default: the one held)."""
        tok = token or self.token
        if not tok:
            raise ValueError("no token to verify")
        data = await self._json("POST", "/api/verify", json=body(token=tok), auth=False)
        return from_json(VerifyResponse, data)

    async def logout(self) -> None:
        """``POST /api/logout``: ends this sign-in and forgets the tokens."""
        await self._json("POST", "/api/logout", json=body(refresh_token=self.refresh_token), auth=False)
        self.token = None
        self.refresh_token = None

    # ---- the caller's account -------------------------------------------------------------

    async def me(self) -> UserInfo:
        """``GET /api/v1/me``."""
        user = from_json(UserInfo, await self._json("GET", f"{_V1}/me"))
        self._user_id = user.id
        return user

    async def update_settings(self, *, secrets_default: str) -> UserInfo:
        """``PUT /api/v1/me/settings`` (``secrets_default``: ``"all"`` or ``"none"``)."""
        data = await self._json("PUT", f"{_V1}/me/settings", json=body(secrets_default=secrets_default))
        return from_json(UserInfo, data)

    async def change_password(self, current_password: str, new_password: str) -> None:
        """``POST /api/v1/me/password`` (every other sign-in ends)."""
        await self._json(
            "POST",
            f"{_V1}/me/password",
            json=body(current_password=current_password, new_password=new_password),
        )

    async def sign_ins(self) -> List[SignIn]:
        """``GET /api/v1/me/sign-ins``, newest first."""
        data = await self._json("GET", f"{_V1}/me/sign-ins")
        return [from_json(SignIn, s) for s in data["signIns"]]

    async def revoke_sign_in(self, sign_in_id: str) -> None:
        """``DELETE /api/v1/me/sign-ins/{id}``."""
        await self._json("DELETE", f"{_V1}/me/sign-ins/{seg(sign_in_id)}")

    async def delete_account(self, password: str) -> None:
        """``DELETE /api/v1/me``: deletes the account and everything it owns."""
        await self._json("DELETE", f"{_V1}/me", json=body(password=password))
        self.token = None
        self.refresh_token = None

    async def usage(self) -> Usage:
        """``GET /api/v1/usage``: today's use of each quota."""
        return from_json(Usage, await self._json("GET", f"{_V1}/usage"))

    # ---- keys -----------------------------------------------------------------------------

    async def list_keys(self) -> List[KeyInfo]:
        """``GET /api/v1/keys`` (needs a JWT)."""
        data = await self._json("GET", f"{_V1}/keys")
        return [from_json(KeyInfo, k) for k in data["keys"]]

    async def create_key(self, name: str) -> CreatedKey:
        """``POST /api/v1/keys`` (needs a JWT); ``api_key`` is shown this once."""
        return from_json(CreatedKey, await self._json("POST", f"{_V1}/keys", json=body(name=name)))

    async def delete_key(self, key_id: str) -> None:
        """``DELETE /api/v1/keys/{id}``."""
        await self._json("DELETE", f"{_V1}/keys/{seg(key_id)}")

    # ---- execute --------------------------------------------------------------------------

    async def execute(
        self,
        code: str = "",
        *,
        language: Optional[str] = None,
        stdin: Optional[str] = None,
        args: Optional[Sequence[str]] = None,
        timeout_ms: Optional[int] = None,
        memory_mb: Optional[int] = None,
        packages: Optional[Sequence[str]] = None,
        env: Optional[Mapping[str, str]] = None,
        network: Optional[bool] = None,
        secrets: Optional[Sequence[str]] = None,
        files: Optional[Files] = None,
        entry: Optional[str] = None,
        output_files: Optional[Sequence[str]] = None,
    ) -> ExecuteResult:
        """``POST /api/v1/execute``: runs ``code`` (or ``entry``, one of ``files``) once."""
        payload = body(
            code=code or None, language=language, stdin=stdin, args=_list(args),
            timeout_ms=timeout_ms, memory_mb=memory_mb, packages=_list(packages),
            env=_dict(env), network=network, secrets=_list(secrets),
            files=files_json(files), entry=entry, output_files=_list(output_files),
        )
        return from_json(ExecuteResult, await self._json("POST", f"{_V1}/execute", json=payload))

    async def execute_stream(
        self,
        code: str = "",
        *,
        language: Optional[str] = None,
        stdin: Optional[str] = None,
        args: Optional[Sequence[str]] = None,
        timeout_ms: Optional[int] = None,
        memory_mb: Optional[int] = None,
        packages: Optional[Sequence[str]] = None,
        env: Optional[Mapping[str, str]] = None,
        network: Optional[bool] = None,
        secrets: Optional[Sequence[str]] = None,
        files: Optional[Files] = None,
        entry: Optional[str] = None,
        output_files: Optional[Sequence[str]] = None,
    ) -> AsyncIterator[Event]:
        """``POST /api/v1/execute`` as live events: a :class:`StartEvent`, then
        :class:`OutputEvent`s as the program writes, then a :class:`ResultEvent` (or an
        :class:`ErrorEvent`). Leaving the loop early closes the stream, which stops the run."""
        payload = body(
            code=code or None, language=language, stdin=stdin, args=_list(args),
            timeout_ms=timeout_ms, memory_mb=memory_mb, packages=_list(packages),
            env=_dict(env), network=network, secrets=_list(secrets),
            files=files_json(files), entry=entry, output_files=_list(output_files),
        )
        async for event in self._events(f"{_V1}/execute", payload, cell=False):
            yield event

    async def cancel(self, execution_id: str) -> None:
        """``POST /api/v1/executions/{id}/cancel``: stops a run in progress."""
        await self._json("POST", f"{_V1}/executions/{seg(execution_id)}/cancel")

    # ---- sessions -------------------------------------------------------------------------

    async def create_session(
        self,
        *,
        language: Optional[str] = None,
        memory_mb: Optional[int] = None,
        idle_timeout_sec: Optional[int] = None,
        max_lifetime_sec: Optional[int] = None,
        env: Optional[Mapping[str, str]] = None,
        packages: Optional[Sequence[str]] = None,
        network: Optional[bool] = None,
        secrets: Optional[Sequence[str]] = None,
    ) -> SessionInfo:
        """``POST /api/v1/sessions``: opens a live interpreter."""
        payload = body(
            language=language, memory_mb=memory_mb, idle_timeout_sec=idle_timeout_sec,
            max_lifetime_sec=max_lifetime_sec, env=_dict(env), packages=_list(packages),
            network=network, secrets=_list(secrets),
        )
        return from_json(SessionInfo, await self._json("POST", f"{_V1}/sessions", json=payload))

    async def list_sessions(self) -> List[SessionInfo]:
        """``GET /api/v1/sessions``, oldest first."""
        data = await self._json("GET", f"{_V1}/sessions")
        return [from_json(SessionInfo, s) for s in data["sessions"]]

    async def get_session(self, session_id: str) -> SessionInfo:
        """``GET /api/v1/sessions/{id}``."""
        return from_json(SessionInfo, await self._json("GET", f"{_V1}/sessions/{seg(session_id)}"))

    async def delete_session(self, session_id: str) -> None:
        """``DELETE /api/v1/sessions/{id}``."""
        await self._json("DELETE", f"{_V1}/sessions/{seg(session_id)}")

    async def run_cell(
        self, session_id: str, code: str, *, timeout_ms: Optional[int] = None
    ) -> CellResult:
        """``POST /api/v1/sessions/{id}/execute``: one cell against the session's globals."""
        data = await self._json(
            "POST", f"{_V1}/sessions/{seg(session_id)}/execute", json=body(code=code, timeout_ms=timeout_ms)
        )
        return from_json(CellResult, data)

    async def run_cell_stream(
        self, session_id: str, code: str, *, timeout_ms: Optional[int] = None
    ) -> AsyncIterator[Event]:
        """A cell as live events; the :class:`ResultEvent` holds a :class:`CellResult`."""
        path = f"{_V1}/sessions/{seg(session_id)}/execute"
        async for event in self._events(path, body(code=code, timeout_ms=timeout_ms), cell=True):
            yield event

    async def interrupt(self, session_id: str) -> bool:
        """``POST /api/v1/sessions/{id}/interrupt``: ``True`` when a running cell was hit."""
        data = await self._json("POST", f"{_V1}/sessions/{seg(session_id)}/interrupt")
        return bool(data["interrupted"])

    async def put_file(self, session_id: str, path: str, data: Union[bytes, str]) -> SessionFile:
        """``PUT /api/v1/sessions/{id}/files/{path}``: parents created, a file replaced."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        answer = await self._json(
            "PUT",
            f"{_V1}/sessions/{seg(session_id)}/files/{file_path(path)}",
            content=raw,
            headers={"content-type": "application/octet-stream"},
        )
        return from_json(SessionFile, answer)

    async def get_file(self, session_id: str, path: str) -> bytes:
        """``GET /api/v1/sessions/{id}/files/{path}``: the file's bytes."""
        response = await self._send("GET", f"{_V1}/sessions/{seg(session_id)}/files/{file_path(path)}")
        return response.content

    async def list_files(self, session_id: str, dir: Optional[str] = None) -> SessionFileList:
        """``GET /api/v1/sessions/{id}/files?dir=``: one directory, not recursive."""
        data = await self._json("GET", f"{_V1}/sessions/{seg(session_id)}/files", params={"dir": dir})
        return from_json(SessionFileList, data)

    async def delete_file(self, session_id: str, path: str) -> None:
        """``DELETE /api/v1/sessions/{id}/files/{path}`` (a directory with its contents)."""
        await self._json("DELETE", f"{_V1}/sessions/{seg(session_id)}/files/{file_path(path)}")

    # ---- secrets --------------------------------------------------------------------------

    async def list_secrets(self) -> List[SecretMetadata]:
        """``GET /api/v1/secrets`` (names and versions, never values)."""
        data = await self._json("GET", f"{_V1}/secrets")
        return [from_json(SecretMetadata, s) for s in data["secrets"]]

    async def set_secret(self, name: str, value: str) -> SecretMetadata:
        """``PUT /api/v1/secrets/{name}``."""
        data = await self._json("PUT", f"{_V1}/secrets/{seg(name)}", json=body(value=value))
        return from_json(SecretMetadata, data)

    async def delete_secret(self, name: str) -> None:
        """``DELETE /api/v1/secrets/{name}``."""
        await self._json("DELETE", f"{_V1}/secrets/{seg(name)}")

    # ---- packages -------------------------------------------------------------------------

    async def list_packages(self) -> PackageList:
        """``GET /api/v1/packages``: the lists and their environments' status."""
        return from_json(PackageList, await self._json("GET", f"{_V1}/packages"))

    async def set_packages(self, packages: Sequence[str], *, language: Optional[str] = None) -> PackageList:
        """``PUT /api/v1/packages``: replaces a language's list (built before answering)."""
        data = await self._json("PUT", f"{_V1}/packages", json=body(packages=list(packages), language=language))
        return from_json(PackageList, data)

    async def add_package(self, package: str, *, language: Optional[str] = None) -> PackageList:
        """``POST /api/v1/packages``: adds one spec (built before answering)."""
        data = await self._json("POST", f"{_V1}/packages", json=body(package=package, language=language))
        return from_json(PackageList, data)

    async def remove_package(self, name: str, *, language: Optional[str] = None) -> None:
        """``DELETE /api/v1/packages/{name}``."""
        await self._json("DELETE", f"{_V1}/packages/{seg(name)}", params={"language": language})

    # ---- egress ---------------------------------------------------------------------------

    async def get_egress_allow(self) -> Optional[List[str]]:
        """``GET /api/v1/egress/allow``: the hosts, or ``None`` when no list is set."""
        data = await self._json("GET", f"{_V1}/egress/allow")
        hosts: Optional[List[str]] = data.get("hosts")
        return hosts

    async def set_egress_allow(self, hosts: Sequence[str]) -> Optional[List[str]]:
        """``PUT /api/v1/egress/allow``: the normalised list."""
        data = await self._json("PUT", f"{_V1}/egress/allow", json=body(hosts=list(hosts)))
        out: Optional[List[str]] = data.get("hosts")
        return out

    async def delete_egress_allow(self) -> None:
        """``DELETE /api/v1/egress/allow``."""
        await self._json("DELETE", f"{_V1}/egress/allow")

    # ---- audit ----------------------------------------------------------------------------

    async def audit(
        self, *, limit: Optional[int] = None, before: Optional[str] = None, action: Optional[str] = None
    ) -> AuditPage:
        """``GET /api/v1/audit``: one page, newest first."""
        data = await self._json(
            "GET", f"{_V1}/audit", params={"limit": limit, "before": before, "action": action}
        )
        return from_json(AuditPage, data)

    async def iter_audit(
        self, *, action: Optional[str] = None, page_size: int = 100
    ) -> AsyncIterator[AuditEntry]:
        """Every audit entry, newest first, fetching pages as the loop goes."""
        before: Optional[str] = None
        while True:
            page = await self.audit(limit=page_size, before=before, action=action)
            for entry in page.entries:
                yield entry
            if not page.next_cursor or not page.entries:
                return
            before = page.next_cursor

    async def verify_audit(self) -> AuditVerification:
        """``GET /api/v1/audit/verify``: recomputes the hash chain."""
        return from_json(AuditVerification, await self._json("GET", f"{_V1}/audit/verify"))

    # ---- zero-knowledge -------------------------------------------------------------------

    async def user_id(self) -> str:
        """The caller's user id (from ``GET /api/v1/me``, asked once)."""
        if self._user_id is None:
            await self.me()
        assert self._user_id is not None
        return self._user_id

    async def zk_store(
        self, name: str, code: Union[str, bytes], master_password: str, *, language: str = "python"
    ) -> EncryptedCodeMetadata:
        """Encrypts ``code`` on this machine (pyth_on_zk, bound to the caller's id and
        ``name``) and stores the payload: the server never sees the code or the password."""
        from pyth_on_zk import encrypt

        payload = encrypt(code, master_password, await self.user_id(), name, language)
        return await self.zk_put(name, payload)

    async def zk_put(self, name: str, payload: Mapping[str, Any]) -> EncryptedCodeMetadata:
        """``PUT /api/v1/zk/code/{name}`` of a payload already encrypted."""
        data = await self._json("PUT", f"{_V1}/zk/code/{seg(name)}", json=dict(payload))
        return from_json(EncryptedCodeMetadata, data)

    async def zk_list(self) -> List[EncryptedCodeMetadata]:
        """``GET /api/v1/zk/code``, sorted by name."""
        data = await self._json("GET", f"{_V1}/zk/code")
        return [from_json(EncryptedCodeMetadata, i) for i in data["items"]]

    async def zk_delete(self, name: str) -> None:
        """``DELETE /api/v1/zk/code/{name}``."""
        await self._json("DELETE", f"{_V1}/zk/code/{seg(name)}")

    async def zk_run(
        self,
        name: str,
        master_password: str,
        *,
        stdin: Optional[str] = None,
        args: Optional[Sequence[str]] = None,
        timeout_ms: Optional[int] = None,
        memory_mb: Optional[int] = None,
        packages: Optional[Sequence[str]] = None,
        network: Optional[bool] = None,
        secrets: Optional[Sequence[str]] = None,
        files: Optional[Files] = None,
        output_files: Optional[Sequence[str]] = None,
    ) -> ExecuteResult:
        """``POST /api/v1/zk/execute/{name}``: decrypted only inside the sandbox."""
        payload = body(
            master_password=master_password, stdin=stdin, args=_list(args), timeout_ms=timeout_ms,
            memory_mb=memory_mb, packages=_list(packages), network=network,
            secrets=_list(secrets), files=files_json(files), output_files=_list(output_files),
        )
        data = await self._json("POST", f"{_V1}/zk/execute/{seg(name)}", json=payload)
        return from_json(ExecuteResult, data)

    async def zk_encrypt_on_server(
        self, name: str, code: str, master_password: str, *, language: Optional[str] = None
    ) -> Dict[str, Any]:
        """``POST /api/v1/zk/encrypt``: for tests only (the server sees the code); use
        :meth:`zk_store`, which encrypts locally."""
        payload = body(code=code, master_password=master_password, name=name, language=language)
        data: Dict[str, Any] = await self._json("POST", f"{_V1}/zk/encrypt", json=payload)
        return data

    # ---- generate -------------------------------------------------------------------------

    async def generate(
        self,
        prompt: str,
        *,
        language: Optional[str] = None,
        execute: Optional[bool] = None,
        packages: Optional[Sequence[str]] = None,
        timeout_ms: Optional[int] = None,
        memory_mb: Optional[int] = None,
        network: Optional[bool] = None,
        secrets: Optional[Sequence[str]] = None,
        files: Optional[Files] = None,
        output_files: Optional[Sequence[str]] = None,
    ) -> GenerateResult:
        """``POST /api/v1/generate``: a model writes the program (and it runs, by default)."""
        payload = body(
            prompt=prompt, language=language, execute=execute, packages=_list(packages),
            timeout_ms=timeout_ms, memory_mb=memory_mb, network=network,
            secrets=_list(secrets), files=files_json(files), output_files=_list(output_files),
        )
        return from_json(GenerateResult, await self._json("POST", f"{_V1}/generate", json=payload))

    # ---- administration (an admin's access token) -----------------------------------------

    async def admin_users(self, *, after: Optional[str] = None, limit: Optional[int] = None) -> AdminUserPage:
        """``GET /api/v1/admin/users``: one page in creation order."""
        data = await self._json("GET", f"{_V1}/admin/users", params={"after": after, "limit": limit})
        return from_json(AdminUserPage, data)

    async def iter_admin_users(self, *, page_size: int = 100) -> AsyncIterator[AdminUser]:
        """Every account, fetching pages as the loop goes."""
        after: Optional[str] = None
        while True:
            page = await self.admin_users(after=after, limit=page_size)
            for user in page.users:
                yield user
            if not page.next_after or not page.users:
                return
            after = page.next_after

    async def admin_create_user(
        self, email: str, *, password: Optional[str] = None, role: Optional[str] = None
    ) -> AdminCreatedUser:
        """``POST /api/v1/admin/users`` (without ``password`` one is generated and answered)."""
        data = await self._json("POST", f"{_V1}/admin/users", json=body(email=email, password=password, role=role))
        return from_json(AdminCreatedUser, data)

    async def admin_disable_user(self, user_id: str) -> None:
        """``POST /api/v1/admin/users/{id}/disable``."""
        await self._json("POST", f"{_V1}/admin/users/{seg(user_id)}/disable")

    async def admin_enable_user(self, user_id: str) -> None:
        """``POST /api/v1/admin/users/{id}/enable``."""
        await self._json("POST", f"{_V1}/admin/users/{seg(user_id)}/enable")

    async def admin_set_role(self, user_id: str, role: str) -> None:
        """``PUT /api/v1/admin/users/{id}/role`` (``"user"`` or ``"admin"``)."""
        await self._json("PUT", f"{_V1}/admin/users/{seg(user_id)}/role", json=body(role=role))

    async def admin_get_quota(self, user_id: str) -> UserQuota:
        """``GET /api/v1/admin/users/{id}/quota``."""
        return from_json(UserQuota, await self._json("GET", f"{_V1}/admin/users/{seg(user_id)}/quota"))

    async def admin_set_quota(self, user_id: str, overrides: QuotaOverrides) -> UserQuota:
        """``PUT /api/v1/admin/users/{id}/quota`` (``QuotaOverrides()`` removes them all)."""
        data = await self._json(
            "PUT", f"{_V1}/admin/users/{seg(user_id)}/quota", json=to_json(overrides)
        )
        return from_json(UserQuota, data)

    async def admin_delete_user(self, user_id: str) -> None:
        """``DELETE /api/v1/admin/users/{id}``."""
        await self._json("DELETE", f"{_V1}/admin/users/{seg(user_id)}")

    async def admin_invitations(self) -> List[Invitation]:
        """``GET /api/v1/admin/invitations``."""
        data = await self._json("GET", f"{_V1}/admin/invitations")
        return [from_json(Invitation, i) for i in data["invitations"]]

    async def admin_create_invitation(
        self, *, note: Optional[str] = None, expires_in_hours: Optional[int] = None
    ) -> InvitationCreated:
        """``POST /api/v1/admin/invitations``: ``code`` (``pyi_...``) is shown once."""
        data = await self._json(
            "POST", f"{_V1}/admin/invitations", json=body(note=note, expires_in_hours=expires_in_hours)
        )
        return from_json(InvitationCreated, data)

    async def admin_delete_invitation(self, invitation_id: str) -> None:
        """``DELETE /api/v1/admin/invitations/{id}``."""
        await self._json("DELETE", f"{_V1}/admin/invitations/{seg(invitation_id)}")


def _list(items: Optional[Sequence[str]]) -> Optional[List[str]]:
    return None if items is None else list(items)


def _dict(items: Optional[Mapping[str, str]]) -> Optional[Dict[str, str]]:
    return None if items is None else dict(items)
