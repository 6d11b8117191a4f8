"""pyth_on_zk: encrypt code locally into a Pyth-On zkcode v1 payload, and read one back."""

from .client import ApiError, Client
from .zkcode import (
    MAX_CODE_BYTES,
    MIN_MASTER_PASSWORD_CHARS,
    IntegrityError,
    InvalidPayload,
    WrongPassword,
    ZkError,
    aad,
    decrypt,
    derive_okm,
    encrypt,
    loads,
    master_password_problem,
    validate_payload,
)

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "Client",
    "IntegrityError",
    "InvalidPayload",
    "MAX_CODE_BYTES",
    "MIN_MASTER_PASSWORD_CHARS",
    "WrongPassword",
    "ZkError",
    "aad",
    "decrypt",
    "derive_okm",
    "encrypt",
    "loads",
    "master_password_problem",
    "validate_payload",
]
