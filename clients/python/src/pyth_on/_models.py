"""Typed answers of the API, as dataclasses.

The JSON is camelCase and these fields are snake_case: the conversion lives in one place,
:func:`to_camel`/:func:`to_snake`, used by :func:`from_json` (answers into dataclasses) and
:func:`to_json` (dataclasses and keyword arguments into request bodies). Fields the server adds
later are ignored, so an older client keeps working against a newer server.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import sys
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Type, TypeVar, Union

T = TypeVar("T")

_CAMEL = re.compile(r"_([a-z0-9])")
_SNAKE = re.compile(r"(?<!^)([A-Z])")


def to_camel(name: str) -> str:
    """``timeout_ms`` → ``timeoutMs``."""
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def to_snake(name: str) -> str:
    """``timeoutMs`` → ``timeout_ms``."""
    return _SNAKE.sub(lambda m: "_" + m.group(1), name).lower()


_HINTS: Dict[type, Dict[str, Any]] = {}


def _hints(cls: type) -> Dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
        _HINTS[cls] = hints
    return hints


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin is Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(args[0], value) if len(args) == 1 else value
    if origin in (list, List):
        (inner,) = typing.get_args(tp)
        return [_convert(inner, v) for v in value]
    if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(value, dict):
        return from_json(tp, value)
    return value


def from_json(cls: Type[T], data: Mapping[str, Any]) -> T:
    """Builds the dataclass ``cls`` from a camelCase JSON object (unknown keys ignored)."""
    assert dataclasses.is_dataclass(cls)
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: Dict[str, Any] = {}
    for key, value in data.items():
        name = to_snake(key)
        if name in names:
            kwargs[name] = _convert(hints[name], value)
    obj: T = cls(**kwargs)  # type: ignore[assignment]
    return obj


def to_json(value: Any) -> Any:
    """Dataclasses and mappings into camelCase JSON, leaving out ``None`` fields of dataclasses."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            to_camel(f.name): to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


# ---- accounts -------------------------------------------------------------------------------


@dataclass
class UserInfo:
    id: str
    email: str
    created_at: str
    role: str = "user"
    secrets_default: str = "all"


@dataclass
class AuthResponse:
    token: str
    refresh_token: str
    expires_in: int
    token_type: str
    user: UserInfo
    api_key: Optional[str] = None


@dataclass
class VerifyResponse:
    valid: bool
    expires_at: str
    user: UserInfo


@dataclass
class SignIn:
    id: str
    created_at: str
    last_used_at: str
    expires_at: str
    current: bool
    ip: Optional[str] = None
    user_agent: Optional[str] = None


@dataclass
class KeyInfo:
    id: str
    name: str
    prefix: str
    created_at: str
    last_used_at: Optional[str] = None


@dataclass
class CreatedKey:
    id: str
    name: str
    api_key: str
    created_at: str


@dataclass
class QuotaUse:
    used: float
    limit: Optional[int] = None
    reset_at: Optional[str] = None


@dataclass
class Usage:
    day: str
    reset_at: str
    runs: QuotaUse
    cpu_seconds: QuotaUse
    sessions: QuotaUse
    storage_bytes: QuotaUse


# ---- execute --------------------------------------------------------------------------------


@dataclass
class InputFile:
    """A file written under ``/work`` before the program starts; see :meth:`from_bytes`."""

    path: str
    content: str
    encoding: str = "utf8"

    @classmethod
    def from_bytes(cls, path: str, data: bytes) -> "InputFile":
        try:
            return cls(path, data.decode("utf-8"), "utf8")
        except UnicodeDecodeError:
            return cls(path, base64.b64encode(data).decode("ascii"), "base64")


@dataclass
class OutputFile:
    path: str
    size: int
    encoding: str
    content: str

    @property
    def data(self) -> bytes:
        """The file's exact bytes."""
        if self.encoding == "base64":
            return base64.b64decode(self.content)
        return self.content.encode("utf-8")


@dataclass
class EgressUsage:
    requests: int
    bytes: int
    denied: int


@dataclass
class ExecuteResult:
    output: str
    error: str
    exit_code: int
    language: str
    duration_ms: int
    timed_out: bool
    memory_exceeded: bool
    output_truncated: bool
    execution_id: str
    zero_knowledge: Optional[bool] = None
    egress: Optional[EgressUsage] = None
    files: List[OutputFile] = field(default_factory=list)
    files_truncated: Optional[bool] = None
    cancelled: Optional[bool] = None

    @property
    def ok(self) -> bool:
        """The program exited 0 within its limits."""
        return self.exit_code == 0 and not self.timed_out and not self.memory_exceeded


# ---- sessions -------------------------------------------------------------------------------


@dataclass
class SessionInfo:
    id: str
    language: str
    status: str
    memory_mb: int
    idle_timeout_sec: int
    max_lifetime_sec: int
    created_at: str
    last_used_at: str
    expires_at: str


@dataclass
class CellOutput:
    mime: str
    data: str


@dataclass
class CellFailure:
    name: str
    message: str
    traceback: str


@dataclass
class CellResult:
    stdout: str
    stderr: str
    results: List[CellOutput]
    results_truncated: bool
    timed_out: bool
    output_truncated: bool
    memory_exceeded: bool
    session_ended: bool
    duration_ms: float
    error: Optional[CellFailure] = None
    interrupted: bool = False
    exit_code: Optional[int] = None

    @property
    def text(self) -> Optional[str]:
        """The last ``text/plain`` result (a final expression's value), if any."""
        plain = [r.data for r in self.results if r.mime == "text/plain"]
        return plain[-1] if plain else None


@dataclass
class SessionFile:
    path: str
    size: int


@dataclass
class SessionFileEntry:
    path: str
    type: str
    size: int


@dataclass
class SessionFileList:
    dir: str
    entries: List[SessionFileEntry]
    truncated: bool


# ---- secrets, packages, egress ----------------------------------------------------------------


@dataclass
class SecretMetadata:
    name: str
    created_at: str
    updated_at: str
    version: int


@dataclass
class PackageInfo:
    name: str
    spec: str
    language: str
    added_at: str


@dataclass
class PackageEnvStatus:
    status: str
    error: Optional[str] = None


@dataclass
class PackageEnvironments:
    python: PackageEnvStatus
    javascript: PackageEnvStatus


@dataclass
class PackageList:
    packages: List[PackageInfo]
    environments: PackageEnvironments


# ---- audit ----------------------------------------------------------------------------------


@dataclass
class AuditEntry:
    id: str
    timestamp: str
    action: str
    outcome: str
    details: Dict[str, Any]
    hash: str
    prev_hash: str
    resource: Optional[str] = None
    ip: Optional[str] = None
    auth_method: Optional[str] = None
    api_key_id: Optional[str] = None


@dataclass
class AuditPage:
    entries: List[AuditEntry]
    next_cursor: Optional[str] = None


@dataclass
class AuditVerification:
    valid: bool
    entries: int
    head: str
    first_invalid: Optional[str] = None


# ---- zero-knowledge -------------------------------------------------------------------------


@dataclass
class KdfSummary:
    m: int
    t: int
    p: int


@dataclass
class EncryptedCodeMetadata:
    name: str
    language: str
    size: int
    kdf: KdfSummary
    created_at: str
    updated_at: str


# ---- generate -------------------------------------------------------------------------------


@dataclass
class GenerateResult:
    code: str
    language: str
    model: str
    explanation: str
    executed: bool
    execution: Optional[ExecuteResult] = None


# ---- admin ----------------------------------------------------------------------------------


@dataclass
class AdminUser:
    id: str
    email: str
    role: str
    created_at: str
    disabled_at: Optional[str] = None
    usage: Optional[Usage] = None


@dataclass
class AdminUserPage:
    users: List[AdminUser]
    next_after: Optional[str] = None


@dataclass
class AdminCreatedUser:
    user: AdminUser
    password: Optional[str] = None


@dataclass
class QuotaOverrides:
    runs_per_day: Optional[int] = None
    cpu_seconds_per_day: Optional[int] = None
    sessions: Optional[int] = None
    storage_bytes: Optional[int] = None


@dataclass
class UserQuota:
    runs_per_day: int
    cpu_seconds_per_day: int
    sessions: int
    storage_bytes: int
    overrides: QuotaOverrides


@dataclass
class Invitation:
    id: str
    note: str
    created_by: str
    created_at: str
    expires_at: str
    used_at: Optional[str] = None
    used_by: Optional[str] = None


@dataclass
class InvitationCreated:
    invitation: Invitation
    code: str


# ---- server ---------------------------------------------------------------------------------


@dataclass
class HealthResponse:
    status: str
    version: str
    uptime_seconds: int
    checks: Dict[str, Any]


@dataclass
class LanguageInfo:
    name: str
    version: str
    aliases: List[str]


@dataclass
class FeaturesInfo:
    egress: bool
    generate: bool
    packages: bool
    zero_knowledge: bool
    console: bool = False
    registration: Optional[str] = None


@dataclass
class InfoResponse:
    name: str
    version: str
    languages: List[LanguageInfo]
    limits: Dict[str, Any]
    features: FeaturesInfo


# ---- streamed events ------------------------------------------------------------------------


@dataclass
class StartEvent:
    """First event: ``execution_id`` of a run, or ``session_id`` of a streamed cell."""

    execution_id: Optional[str] = None
    session_id: Optional[str] = None


@dataclass
class OutputEvent:
    """Text the program wrote; ``stream`` is ``"stdout"`` or ``"stderr"``."""

    stream: str
    text: str


@dataclass
class ResultEvent:
    """Last event of a run (an :class:`ExecuteResult`) or of a cell (a :class:`CellResult`)."""

    result: Union[ExecuteResult, CellResult]


@dataclass
class ErrorEvent:
    """Last event instead of a result: the sandbox failed."""

    code: str
    message: str
    request_id: Optional[str] = None
    details: Optional[Dict[str, Any]] = None


Event = Union[StartEvent, OutputEvent, ResultEvent, ErrorEvent]
