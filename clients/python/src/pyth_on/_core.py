"""The request/response layer both clients share: configuration, request bodies, paths, error
mapping, retry decisions and the Server-Sent Events parser. Nothing here does I/O, so
:class:`pyth_on.Client` and :class:`pyth_on.AsyncClient` differ only in how they send.
"""

from __future__ import annotations

import base64
import email.utils
import json
import os
import random
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import httpx

from ._models import (
    CellResult,
    ErrorEvent,
    Event,
    ExecuteResult,
    InputFile,
    OutputEvent,
    ResultEvent,
    StartEvent,
    from_json,
    to_camel,
    to_json,
)
from .errors import PythOnError, error_for

__version__ = "0.1.0"

DEFAULT_URL = "http://127.0.0.1:8080"
USER_AGENT = f"pyth-on-python/{__version__}"

Files = Union[Sequence[InputFile], Mapping[str, Union[str, bytes]]]


@dataclass
class RetryPolicy:
    """Retries of answers 429 and 503 (the request was refused before anything ran).

    ``max_retries`` further attempts; the wait is the server's ``Retry-After`` when it sent
    one, else ``backoff * 2**attempt`` (with jitter) capped at ``max_backoff``. A
    ``Retry-After`` longer than ``max_wait`` (e.g. a daily quota) is not waited for: the error
    is raised at once with its ``retry_after``.
    """

    max_retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_wait: float = 60.0

    def delay(self, attempt: int, err: PythOnError) -> Optional[float]:
        """Seconds to wait before attempt ``attempt + 1``, or ``None`` to raise ``err``."""
        if err.status not in (429, 503) or attempt >= self.max_retries:
            return None
        if err.code == "quota_exceeded" and err.retry_after is None:
            return None  # frees up only when the user deletes something
        if err.retry_after is not None:
            return err.retry_after if err.retry_after <= self.max_wait else None
        wait = min(self.max_backoff, self.backoff * (2**attempt))
        return float(wait * (0.5 + random.random() / 2))


def resolve_url(base_url: Optional[str]) -> str:
    url = base_url or os.environ.get("PYTH_ON_URL") or DEFAULT_URL
    return url.rstrip("/")


def resolve_key(api_key: Optional[str], token: Optional[str]) -> Optional[str]:
    if api_key is not None:
        return api_key or None
    if token is not None:
        return None
    return os.environ.get("PYTH_ON_API_KEY") or None


def body(**fields: Any) -> Dict[str, Any]:
    """A JSON body from snake_case keyword arguments: camelCase keys, ``None`` left out."""
    return {to_camel(k): to_json(v) for k, v in fields.items() if v is not None}


def files_json(files: Optional[Files]) -> Optional[List[Dict[str, Any]]]:
    """Input files as the API takes them; a mapping ``{path: str | bytes}`` is accepted too."""
    if files is None:
        return None
    items: List[InputFile] = []
    if isinstance(files, Mapping):
        for path, content in files.items():
            if isinstance(content, bytes):
                items.append(InputFile.from_bytes(path, content))
            else:
                items.append(InputFile(path, content))
    else:
        items = list(files)
    out: List[Dict[str, Any]] = to_json(items)
    return out


def seg(value: str) -> str:
    """One path segment, percent-encoded."""
    return urllib.parse.quote(value, safe="")


def file_path(path: str) -> str:
    """A session file path for the URL: each segment encoded, ``/`` kept, ``.``/``..`` refused
    (an HTTP stack could normalise them into another URL)."""
    parts = path.split("/")
    if not path or any(p in (".", "..") for p in parts) or path.startswith("/"):
        raise ValueError(f"invalid session file path {path!r}")
    return "/".join(seg(p) for p in parts)


def retry_after(headers: httpx.Headers) -> Optional[float]:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, float(when.timestamp()) - time.time())


def error_from(response: httpx.Response) -> PythOnError:
    """The exception for an error answer whose body has been read."""
    try:
        parsed: Any = response.json()
    except ValueError:
        parsed = response.text
    return error_for(
        response.status_code,
        parsed,
        request_id=response.headers.get("x-request-id"),
        retry_after=retry_after(response.headers),
    )


def transport_error(exc: Exception) -> PythOnError:
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection_error"
    return _transport(f"{type(exc).__name__}: {exc}", kind)


def _transport(message: str, code: str) -> PythOnError:
    from .errors import TransportError

    return TransportError(message, code=code)


class SseParser:
    """Feeds lines of a ``text/event-stream`` and returns each complete ``(event, data)``."""

    def __init__(self) -> None:
        self._event = ""
        self._data: List[str] = []

    def feed(self, line: str) -> Optional[Tuple[str, str]]:
        line = line.rstrip("\r\n")
        if line == "":
            if not self._data and not self._event:
                return None
            out = (self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return out
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None


def event_from(kind: str, data: str, *, cell: bool) -> Optional[Event]:
    """A typed event from one SSE event (``None`` for kinds this client does not know)."""
    try:
        obj: Any = json.loads(data) if data else {}
    except ValueError:
        obj = {}
    if kind == "start":
        return StartEvent(execution_id=obj.get("executionId"), session_id=obj.get("sessionId"))
    if kind in ("stdout", "stderr"):
        return OutputEvent(kind, str(obj.get("text", "")))
    if kind == "result":
        result: Union[ExecuteResult, CellResult] = (
            from_json(CellResult, obj) if cell else from_json(ExecuteResult, obj)
        )
        return ResultEvent(result)
    if kind == "error":
        return ErrorEvent(
            code=str(obj.get("code", "")),
            message=str(obj.get("error", "")),
            request_id=obj.get("requestId"),
            details=obj.get("details"),
        )
    return None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
