"""pyth_on: a client of the Pyth-On code-execution API, sync (:class:`Client`) and async
(:class:`AsyncClient`)::

    from pyth_on import Client
    client = Client()            # $PYTH_ON_URL, $PYTH_ON_API_KEY
    print(client.execute("print(6 * 7)").output)
"""

from ._async_client import AsyncClient
from ._core import RetryPolicy, __version__
from ._models import (
    AdminCreatedUser,
    AdminUser,
    AdminUserPage,
    AuditEntry,
    AuditPage,
    AuditVerification,
    AuthResponse,
    CellFailure,
    CellOutput,
    CellResult,
    CreatedKey,
    EgressUsage,
    EncryptedCodeMetadata,
    ErrorEvent,
    Event,
    ExecuteResult,
    FeaturesInfo,
    GenerateResult,
    HealthResponse,
    InfoResponse,
    InputFile,
    Invitation,
    InvitationCreated,
    KdfSummary,
    KeyInfo,
    LanguageInfo,
    OutputEvent,
    OutputFile,
    PackageEnvironments,
    PackageEnvStatus,
    PackageInfo,
    PackageList,
    QuotaOverrides,
    QuotaUse,
    ResultEvent,
    SecretMetadata,
    SessionFile,
    SessionFileEntry,
    SessionFileList,
    SessionInfo,
    SignIn,
    StartEvent,
    Usage,
    UserInfo,
    UserQuota,
    VerifyResponse,
)
from ._sync_client import Client
from .errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PythOnError,
    QuotaError,
    RateLimitError,
    ServerError,
    TransportError,
    UnavailableError,
    ValidationError,
)

__all__ = [
    "AdminCreatedUser", "AdminUser", "AdminUserPage", "AsyncClient", "AuditEntry", "AuditPage",
    "AuditVerification", "AuthError", "AuthResponse", "CellFailure", "CellOutput", "CellResult",
    "Client", "ConflictError", "CreatedKey", "EgressUsage", "EncryptedCodeMetadata",
    "ErrorEvent", "Event", "ExecuteResult", "FeaturesInfo", "ForbiddenError", "GenerateResult",
    "HealthResponse", "InfoResponse", "InputFile", "Invitation", "InvitationCreated",
    "KdfSummary", "KeyInfo", "LanguageInfo", "NotFoundError", "OutputEvent", "OutputFile",
    "PackageEnvStatus", "PackageEnvironments", "PackageInfo", "PackageList", "PythOnError",
    "QuotaError", "QuotaOverrides", "QuotaUse", "RateLimitError", "ResultEvent", "RetryPolicy",
    "SecretMetadata", "ServerError", "SessionFile", "SessionFileEntry", "SessionFileList",
    "SessionInfo", "SignIn", "StartEvent", "TransportError", "UnavailableError", "Usage",
    "UserInfo", "UserQuota", "ValidationError", "VerifyResponse", "__version__",
]
