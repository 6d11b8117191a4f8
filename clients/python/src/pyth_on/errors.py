"""One exception class per family of error codes (docs/API.md "Error codes").

Every one is a :class:`PythOnError` carrying ``code`` (the server's code, e.g.
``"email_taken"``), ``status`` (the HTTP status), ``request_id`` (the ``x-request-id`` to quote
in a report), ``retry_after`` (seconds, when the server sent ``Retry-After``) and ``details``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

__all__ = [
    "AuthError",
    "ConflictError",
    "ForbiddenError",
    "NotFoundError",
    "PythOnError",
    "QuotaError",
    "RateLimitError",
    "ServerError",
    "TransportError",
    "UnavailableError",
    "ValidationError",
    "error_for",
]


class PythOnError(Exception):
    """Base of every error this library raises for an answer of the server (or none)."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        status: int = 0,
        request_id: Optional[str] = None,
        retry_after: Optional[float] = None,
        details: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after
        self.details = details

    def __str__(self) -> str:
        where = f" (request {self.request_id})" if self.request_id else ""
        head = f"{self.status} {self.code}: " if self.status else ""
        return f"{head}{self.message}{where}"


class TransportError(PythOnError):
    """No answer: the connection failed or the client's timeout passed (``status`` 0)."""


class ValidationError(PythOnError):
    """400, 405, 408, 413, 422: the request was refused as it is (``details`` says why)."""


class AuthError(PythOnError):
    """401: missing, bad or expired credentials (``unauthorized``, ``invalid_credentials``)."""


class ForbiddenError(PythOnError):
    """403: e.g. ``jwt_required``, ``admin_required``, ``zk_wrong_password``."""


class NotFoundError(PythOnError):
    """404: ``not_found`` (also another user's object) or ``file_not_found``."""


class ConflictError(PythOnError):
    """409: ``email_taken``, ``too_many_keys``, ``session_busy``, ``last_admin``, ..."""


class RateLimitError(PythOnError):
    """429: a rate limit or a queue share (``rate_limited``, ``too_many_runs``, ...)."""


class QuotaError(RateLimitError):
    """429 ``quota_exceeded``: ``details`` has ``quota``, ``limit``, ``used``, ``resetAt``."""


class ServerError(PythOnError):
    """5xx: ``internal_error``, ``upstream_error``, ..."""


class UnavailableError(ServerError):
    """503: ``sandbox_unavailable``, ``sessions_full``, ``generate_not_configured``, ..."""


def error_for(
    status: int,
    body: Any,
    *,
    request_id: Optional[str] = None,
    retry_after: Optional[float] = None,
) -> PythOnError:
    """The exception for an error answer (its body parsed as JSON when it was JSON)."""
    if isinstance(body, dict):
        code = str(body.get("code") or "")
        message = str(body.get("error") or f"HTTP {status}")
        request_id = body.get("requestId") or request_id
        details = body.get("details") if isinstance(body.get("details"), dict) else None
    else:
        code, message, details = "", (str(body) if body else f"HTTP {status}"), None
    cls: type = PythOnError
    if status == 401:
        cls = AuthError
    elif status == 403:
        cls = ForbiddenError
    elif status == 404:
        cls = NotFoundError
    elif status == 409:
        cls = ConflictError
    elif status == 429:
        cls = QuotaError if code == "quota_exceeded" else RateLimitError
    elif status == 503:
        cls = UnavailableError
    elif status >= 500:
        cls = ServerError
    elif 400 <= status < 500:
        cls = ValidationError
    err: PythOnError = cls(
        message,
        code=code,
        status=status,
        request_id=request_id,
        retry_after=retry_after,
        details=details,
    )
    return err
