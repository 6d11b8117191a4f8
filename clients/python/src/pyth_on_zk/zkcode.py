"""zkcode v1: encrypt code locally under a key derived from a master password.

``okm = Argon2id(NFC(password), salt, m, t, p=1, len=64, v=0x13)``; ``key = okm[0:32]``,
``kc = okm[32:64]``; XChaCha20-Poly1305 (IETF) under ``key`` with the PAE associated data of
:func:`aad`. See ``docs/ZKCODE.md`` in the Pyth-On repository.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import secrets
import struct
import unicodedata
import uuid
from typing import Any, Dict, List, Mapping, NoReturn, Optional, Sequence, Tuple, Union

from argon2.low_level import Type, hash_secret_raw
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.exceptions import CryptoError

__all__ = [
    "VERSION",
    "AEAD_ALG",
    "KDF_ALG",
    "ARGON2_VERSION",
    "SALT_LEN",
    "NONCE_LEN",
    "KC_LEN",
    "KEY_LEN",
    "TAG_LEN",
    "MAX_CODE_BYTES",
    "ZkError",
    "WrongPassword",
    "IntegrityError",
    "InvalidPayload",
    "aad",
    "derive_okm",
    "encrypt",
    "decrypt",
    "validate_payload",
    "loads",
]

VERSION = 1
AEAD_ALG = "xchacha20poly1305-ietf"
KDF_ALG = "argon2id"
ARGON2_VERSION = 19
SALT_LEN = 16
NONCE_LEN = 24
KEY_LEN = 32
KC_LEN = 32
OKM_LEN = KEY_LEN + KC_LEN
TAG_LEN = 16
#: The server's default code limit (``PYTH_ON_MAX_CODE_BYTES``).
MAX_CODE_BYTES = 524288
LANGUAGE_MAX = 32

M_MIN, M_MAX = 19456, 262144
T_MIN, T_MAX = 1, 10
MT_MIN = 65536

_LANGUAGE_RE = re.compile(r"[a-z0-9+\-._]{1,%d}\Z" % LANGUAGE_MAX)
_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,128}\Z")
_TOP_KEYS = frozenset({"v", "alg", "kdf", "nonce", "kc", "ct", "language"})
_KDF_KEYS = frozenset({"alg", "ver", "m", "t", "p", "salt"})


class ZkError(Exception):
    """Base class of the errors raised while reading a zkcode payload."""


class WrongPassword(ZkError):
    """The key check differs: the master password is not the one the payload was made with."""


class IntegrityError(ZkError):
    """The ciphertext does not authenticate: tampered, or bound to another name or user."""


class InvalidPayload(ZkError, ValueError):
    """The payload breaks the schema, the bounds or the exact lengths."""


# --- helpers -----------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    # bool is a subclass of int; floats (3.0) are refused as well.
    return type(value) is int


def _check_params(m: Any, t: Any, p: Any, exc: type = ValueError) -> None:
    for field, value in (("m", m), ("t", t), ("p", p)):
        if not _is_int(value):
            raise exc(f"kdf.{field} must be an integer")
    if p != 1:
        raise exc("kdf.p must be 1")
    if not M_MIN <= m <= M_MAX:
        raise exc(f"kdf.m must be between {M_MIN} and {M_MAX}")
    if not T_MIN <= t <= T_MAX:
        raise exc(f"kdf.t must be between {T_MIN} and {T_MAX}")
    if m * t < MT_MIN:
        raise exc(f"kdf.m * kdf.t must be at least {MT_MIN}")


def _check_language(language: Any, exc: type = ValueError) -> None:
    if type(language) is not str or not _LANGUAGE_RE.match(language):
        raise exc(f"language must be 1 to {LANGUAGE_MAX} characters of a-z 0-9 + - . _")


def _check_name(name: Any) -> str:
    if type(name) is not str or not _NAME_RE.match(name):
        raise ValueError("name must match ^[A-Za-z0-9._-]{1,128}$")
    return name


def _user(user_id: Union[str, uuid.UUID]) -> str:
    """The lowercase hyphenated form of a user id."""
    if isinstance(user_id, uuid.UUID):
        return str(user_id)
    if type(user_id) is not str:
        raise ValueError("user_id must be a UUID string")
    try:
        return str(uuid.UUID(user_id))
    except ValueError:
        raise ValueError("user_id must be a UUID") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(field: str, text: Any) -> bytes:
    """Strict standard base64 with padding: the input must be the canonical encoding."""
    if type(text) is not str:
        raise InvalidPayload(f"{field} must be a base64 string")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidPayload(f"{field} is not valid base64") from None
    if _b64(data) != text:
        raise InvalidPayload(f"{field} is not canonical padded base64")
    return data


def _exact(field: str, text: Any, n: int) -> bytes:
    data = _unb64(field, text)
    if len(data) != n:
        raise InvalidPayload(f"{field} must be exactly {n} bytes")
    return data


def _le64(n: int) -> bytes:
    return struct.pack("<Q", n & 0x7FFFFFFFFFFFFFFF)


def _pae(pieces: Sequence[bytes]) -> bytes:
    out = [_le64(len(pieces))]
    for piece in pieces:
        out.append(_le64(len(piece)))
        out.append(piece)
    return b"".join(out)


# --- the construction --------------------------------------------------------------------


def aad(m: int, t: int, p: int, user_id: Union[str, uuid.UUID], name: str) -> bytes:
    """``PAE(["zkcode/v1", "xchacha20poly1305-ietf", "argon2id$v=19$m=<m>,t=<t>,p=<p>",
    <user id, lowercase hyphenated>, <name>])``."""
    return _pae(
        [
            b"zkcode/v1",
            AEAD_ALG.encode(),
            f"argon2id$v=19$m={m:d},t={t:d},p={p:d}".encode(),
            _user(user_id).encode(),
            name.encode("utf-8"),
        ]
    )


def derive_okm(password: str, salt: bytes, m: int = 65536, t: int = 3, p: int = 1) -> bytes:
    """The 64-byte Argon2id output over the NFC form of ``password`` (UTF-8)."""
    if type(password) is not str:
        raise TypeError("password must be a str")
    if password == "":
        raise ValueError("the master password must not be empty")
    secret = unicodedata.normalize("NFC", password).encode("utf-8")
    return hash_secret_raw(
        secret=secret,
        salt=bytes(salt),
        time_cost=t,
        memory_cost=m,
        parallelism=p,
        hash_len=OKM_LEN,
        type=Type.ID,
        version=ARGON2_VERSION,
    )


MIN_MASTER_PASSWORD_CHARS = 12
"""The fewest characters (code points of its NFC form) a master password may have to encrypt:
the rule of every Pyth-On client and of the server's /api/v1/zk/encrypt. Decrypting takes any
non-empty password, so payloads made before the rule still open."""


def master_password_problem(password: str) -> Optional[str]:
    """Why ``password`` may not encrypt a new payload, or None when it may."""
    if not isinstance(password, str) or not password:
        return "the master password must not be empty"
    if len(unicodedata.normalize("NFC", password)) < MIN_MASTER_PASSWORD_CHARS:
        return f"the master password must be at least {MIN_MASTER_PASSWORD_CHARS} characters"
    return None


def encrypt(
    code: Union[str, bytes],
    password: str,
    user_id: Union[str, uuid.UUID],
    name: str,
    language: str = "python",
    m: int = 65536,
    t: int = 3,
    p: int = 1,
    *,
    salt: Optional[bytes] = None,
    nonce: Optional[bytes] = None,
    code_limit: int = MAX_CODE_BYTES,
) -> Dict[str, Any]:
    """Encrypts ``code`` and returns the wire JSON as a dict (keys in the order of docs/ZKCODE.md).

    ``salt`` and ``nonce`` are random unless given; give them only for test vectors (reusing
    them with the same password breaks confidentiality). Bad arguments raise ``ValueError``.
    """
    if isinstance(code, str):
        code = code.encode("utf-8")
    elif isinstance(code, (bytes, bytearray, memoryview)):
        code = bytes(code)
    else:
        raise TypeError("code must be str or bytes")
    if not code:
        raise ValueError("code is empty")
    if len(code) > code_limit:
        raise ValueError(f"code is longer than {code_limit} bytes")
    _check_params(m, t, p)
    _check_language(language)
    _check_name(name)
    weak = master_password_problem(password) if isinstance(password, str) else None
    if weak:
        raise ValueError(weak)
    user = _user(user_id)
    salt = secrets.token_bytes(SALT_LEN) if salt is None else bytes(salt)
    nonce = secrets.token_bytes(NONCE_LEN) if nonce is None else bytes(nonce)
    if len(salt) != SALT_LEN:
        raise ValueError(f"salt must be exactly {SALT_LEN} bytes")
    if len(nonce) != NONCE_LEN:
        raise ValueError(f"nonce must be exactly {NONCE_LEN} bytes")

    okm = derive_okm(password, salt, m, t, p)
    key, kc = okm[:KEY_LEN], okm[KEY_LEN:]
    ct = crypto_aead_xchacha20poly1305_ietf_encrypt(code, aad(m, t, p, user, name), nonce, key)
    return {
        "v": VERSION,
        "alg": AEAD_ALG,
        "kdf": {
            "alg": KDF_ALG,
            "ver": ARGON2_VERSION,
            "m": m,
            "t": t,
            "p": p,
            "salt": _b64(salt),
        },
        "nonce": _b64(nonce),
        "kc": _b64(kc),
        "ct": _b64(ct),
        "language": language,
    }


class _Parsed:
    __slots__ = ("m", "t", "p", "salt", "nonce", "kc", "ct", "language")
    m: int
    t: int
    p: int
    salt: bytes
    nonce: bytes
    kc: bytes
    ct: bytes
    language: str


def _parse(payload: Any, code_limit: int) -> _Parsed:
    if isinstance(payload, (str, bytes, bytearray)):
        payload = loads(payload)
    if not isinstance(payload, Mapping):
        raise InvalidPayload("the payload must be a JSON object")
    keys = set(payload.keys())
    if keys != _TOP_KEYS:
        extra, missing = sorted(map(str, keys - _TOP_KEYS)), sorted(_TOP_KEYS - keys)
        raise InvalidPayload(f"schema: unknown keys {extra}, missing keys {missing}")
    kdf = payload["kdf"]
    if not isinstance(kdf, Mapping):
        raise InvalidPayload("kdf must be an object")
    kdf_keys = set(kdf.keys())
    if kdf_keys != _KDF_KEYS:
        extra, missing = sorted(map(str, kdf_keys - _KDF_KEYS)), sorted(_KDF_KEYS - kdf_keys)
        raise InvalidPayload(f"schema: unknown kdf keys {extra}, missing kdf keys {missing}")
    if not _is_int(payload["v"]) or payload["v"] != VERSION:
        raise InvalidPayload("v must be 1")
    if payload["alg"] != AEAD_ALG or type(payload["alg"]) is not str:
        raise InvalidPayload(f"alg must be {AEAD_ALG}")
    if kdf["alg"] != KDF_ALG or type(kdf["alg"]) is not str:
        raise InvalidPayload(f"kdf.alg must be {KDF_ALG}")
    if not _is_int(kdf["ver"]) or kdf["ver"] != ARGON2_VERSION:
        raise InvalidPayload("kdf.ver must be 19")
    _check_params(kdf["m"], kdf["t"], kdf["p"], InvalidPayload)
    out = _Parsed()
    out.m, out.t, out.p = kdf["m"], kdf["t"], kdf["p"]
    out.salt = _exact("kdf.salt", kdf["salt"], SALT_LEN)
    out.nonce = _exact("nonce", payload["nonce"], NONCE_LEN)
    out.kc = _exact("kc", payload["kc"], KC_LEN)
    out.ct = _unb64("ct", payload["ct"])
    if len(out.ct) <= TAG_LEN or len(out.ct) - TAG_LEN > code_limit:
        raise InvalidPayload(
            f"ct must be longer than {TAG_LEN} bytes and at most {TAG_LEN} + {code_limit}"
        )
    _check_language(payload["language"], InvalidPayload)
    out.language = payload["language"]
    return out


def validate_payload(payload: Any, *, code_limit: int = MAX_CODE_BYTES) -> None:
    """Checks schema, bounds and lengths; raises :class:`InvalidPayload`."""
    _parse(payload, code_limit)


def decrypt(
    payload: Union[Mapping[str, Any], str, bytes],
    password: str,
    user_id: Union[str, uuid.UUID],
    name: str,
    *,
    code_limit: int = MAX_CODE_BYTES,
) -> bytes:
    """Decrypts a payload stored under ``name`` by the user ``user_id``; returns the code.

    ``payload`` is the wire dict (or its JSON text, parsed with :func:`loads`). Raises
    :class:`InvalidPayload`, :class:`WrongPassword` or :class:`IntegrityError`.
    """
    parsed = _parse(payload, code_limit)
    _check_name(name)
    user = _user(user_id)
    okm = derive_okm(password, parsed.salt, parsed.m, parsed.t, parsed.p)
    key, kc = okm[:KEY_LEN], okm[KEY_LEN:]
    if not hmac.compare_digest(kc, parsed.kc):
        raise WrongPassword("wrong master password")
    try:
        return crypto_aead_xchacha20poly1305_ietf_decrypt(
            parsed.ct, aad(parsed.m, parsed.t, parsed.p, user, name), parsed.nonce, key
        )
    except CryptoError:
        raise IntegrityError(
            "the payload does not authenticate (tampered, or bound to another name or user)"
        ) from None


def _no_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidPayload(f"schema: duplicate key {key!r}")
        out[key] = value
    return out


def _no_float(text: str) -> NoReturn:
    raise InvalidPayload(f"schema: non-integer number {text}")


def _no_constant(text: str) -> NoReturn:
    raise InvalidPayload(f"schema: {text} is not JSON")


def loads(text: Union[str, bytes, bytearray]) -> Dict[str, Any]:
    """Parses payload JSON strictly: duplicate keys, ``3.0``/``3e0``, NaN and Infinity refused."""
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_constant=_no_constant,
        )
    except InvalidPayload:
        raise
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidPayload(f"schema: {e}") from None
    if not isinstance(value, dict):
        raise InvalidPayload("the payload must be a JSON object")
    return value
