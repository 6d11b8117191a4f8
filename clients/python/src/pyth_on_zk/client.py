"""A tiny stdlib-only client for the zero-knowledge routes of a Pyth-On server."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Mapping, Optional, Union

from .zkcode import encrypt

__all__ = ["Client", "ApiError"]


class ApiError(Exception):
    """A non-2xx answer: ``status``, the error ``code`` and the parsed ``body``."""

    def __init__(self, status: int, body: Any):
        self.status = status
        self.body = body
        self.code = body.get("code") if isinstance(body, dict) else None
        message = body.get("error") if isinstance(body, dict) else body
        super().__init__(f"HTTP {status} {self.code or ''}: {message}".strip())


class Client:
    """``Client("http://127.0.0.1:8080", api_key)``; the master password only goes out in
    :meth:`execute`, in the JSON body."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 120.0):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Optional[Mapping[str, Any]] = None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("x-api-key", self.api_key)
        req.add_header("accept", "application/json")
        if data is not None:
            req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode("utf-8", "replace")
            raise ApiError(e.code, parsed) from None
        return json.loads(raw) if raw else None

    @staticmethod
    def _name(name: str) -> str:
        return urllib.parse.quote(name, safe="")

    def put_code(self, name: str, payload: Mapping[str, Any]) -> Dict[str, Any]:
        """``PUT /api/v1/zk/code/{name}``: stores an encrypted payload; returns its metadata."""
        out: Dict[str, Any] = self._request("PUT", f"/api/v1/zk/code/{self._name(name)}", payload)
        return out

    def upload(
        self,
        name: str,
        code: Union[str, bytes],
        password: str,
        user_id: str,
        language: str = "python",
        **kdf: Any,
    ) -> Dict[str, Any]:
        """Encrypts locally, then :meth:`put_code`. The password does not leave this process."""
        return self.put_code(name, encrypt(code, password, user_id, name, language, **kdf))

    def execute(self, name: str, password: str, **options: Any) -> Dict[str, Any]:
        """``POST /api/v1/zk/execute/{name}``; ``options`` are the optional body fields in
        camelCase (``stdin``, ``args``, ``timeoutMs``, ``memoryMb``, ``packages``)."""
        body = {"masterPassword": password, **options}
        out: Dict[str, Any] = self._request("POST", f"/api/v1/zk/execute/{self._name(name)}", body)
        return out
