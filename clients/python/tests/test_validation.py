"""Strict payload validation: schema, bounds, lengths, canonical base64, integer types.

None of these reaches Argon2: validation comes first, so they are fast.
"""

import base64
import copy
import json

import pytest

from pyth_on_zk import (
    MIN_MASTER_PASSWORD_CHARS,
    InvalidPayload,
    decrypt,
    encrypt,
    loads,
    master_password_problem,
    validate_payload,
)

from test_golden import NAME, PASSWORD, SPEC_JSON, USER

SPEC = json.loads(SPEC_JSON)


def with_(path, value):
    payload = copy.deepcopy(SPEC)
    target = payload
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return payload


def without(path):
    payload = copy.deepcopy(SPEC)
    target = payload
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[key]
    del target[keys[-1]]
    return payload


def b64(n):
    return base64.b64encode(b"\x07" * n).decode()


def test_the_spec_json_is_valid():
    validate_payload(SPEC)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(dict(SPEC, extra=1), id="unknown top-level key"),
        pytest.param(with_("kdf.secret", "x"), id="unknown kdf key"),
        pytest.param(without("language"), id="missing language"),
        pytest.param(without("kdf.salt"), id="missing salt"),
        pytest.param(with_("v", 2), id="v=2"),
        pytest.param(with_("v", True), id="v=true"),
        pytest.param(with_("v", 1.0), id="v=1.0"),
        pytest.param(with_("v", "1"), id="v string"),
        pytest.param(with_("alg", "chacha20poly1305"), id="other alg"),
        pytest.param(with_("kdf.alg", "argon2i"), id="argon2i"),
        pytest.param(with_("kdf.ver", 16), id="ver=16"),
        pytest.param(with_("kdf.p", 4), id="p=4"),
        pytest.param(with_("kdf.p", 0), id="p=0"),
        pytest.param(with_("kdf.m", 19455), id="m too small"),
        pytest.param(with_("kdf.m", 262145), id="m too large"),
        pytest.param(with_("kdf.t", 0), id="t=0"),
        pytest.param(with_("kdf.t", 11), id="t=11"),
        pytest.param(with_("kdf.m", 19456), id="m*t too small"),
        pytest.param(with_("kdf.m", 65536.0), id="m float"),
        pytest.param(with_("kdf.t", 3.0), id="t float"),
        pytest.param(with_("kdf.p", True), id="p=true"),
        pytest.param(with_("kdf.m", "65536"), id="m string"),
        pytest.param(with_("kdf.m", 2**70), id="m huge"),
        pytest.param(with_("kdf.salt", b64(15)), id="salt 15 bytes"),
        pytest.param(with_("kdf.salt", b64(17)), id="salt 17 bytes"),
        pytest.param(with_("nonce", b64(12)), id="nonce 12 bytes"),
        pytest.param(with_("kc", b64(31)), id="kc 31 bytes"),
        pytest.param(with_("kc", b64(64)), id="kc 64 bytes"),
        pytest.param(with_("ct", b64(16)), id="ct only a tag"),
        pytest.param(with_("ct", ""), id="ct empty"),
        pytest.param(with_("kdf.salt", "AAECAwQFBgcICQoLDA0ODw"), id="salt unpadded"),
        pytest.param(with_("kdf.salt", "AAECAwQFBgcICQoLDA0ODx=="), id="salt non-canonical bits"),
        pytest.param(with_("nonce", "QEFCQ0RFRkdISUpLTE1OT1BRUlNU VVZX"), id="nonce with space"),
        pytest.param(with_("nonce", "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZX\n"), id="nonce newline"),
        pytest.param(with_("kc", SPEC["kc"].replace("+", "-").replace("/", "_")), id="kc urlsafe"),
        pytest.param(with_("ct", SPEC["ct"].rstrip("=")), id="ct unpadded"),
        pytest.param(with_("ct", "\u00e9" * 4), id="ct non-ascii"),
        pytest.param(with_("ct", 5), id="ct number"),
        pytest.param(with_("language", ""), id="language empty"),
        pytest.param(with_("language", "Python"), id="language upper-case"),
        pytest.param(with_("language", "x" * 33), id="language too long"),
        pytest.param(with_("kdf", []), id="kdf not an object"),
        pytest.param([], id="not an object"),
    ],
)
def test_payloads_outside_the_spec_are_refused(payload):
    with pytest.raises(InvalidPayload):
        validate_payload(payload)
    with pytest.raises(InvalidPayload):
        decrypt(payload, PASSWORD, USER, NAME)


def test_bounds_at_their_edges_are_accepted():
    for m, t in [(19456, 4), (262144, 1), (65536, 1), (19456, 10), (262144, 10)]:
        payload = with_("kdf.m", m)
        payload["kdf"]["t"] = t
        validate_payload(payload)


def test_ciphertext_length_limits():
    validate_payload(with_("ct", b64(17)))
    validate_payload(with_("ct", b64(16 + 100)), code_limit=100)
    with pytest.raises(InvalidPayload):
        validate_payload(with_("ct", b64(16 + 101)), code_limit=100)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(SPEC_JSON.replace('"t": 3', '"t": 3.0'), id="3.0"),
        pytest.param(SPEC_JSON.replace('"t": 3', '"t": 3e0'), id="3e0"),
        pytest.param(SPEC_JSON.replace('"t": 3', '"t": NaN'), id="NaN"),
        pytest.param(SPEC_JSON.replace('"v": 1,', '"v": 1, "v": 1,'), id="duplicate key"),
        pytest.param("[1]", id="array"),
        pytest.param("{", id="truncated"),
    ],
)
def test_json_text_is_parsed_strictly(text):
    with pytest.raises(InvalidPayload):
        loads(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(m=19455),
        dict(t=11),
        dict(m=19456, t=1),
        dict(p=2),
        dict(t=3.0),
        dict(m=True),
        dict(language="Python"),
        dict(salt=b"\x00" * 15),
        dict(nonce=b"\x00" * 12),
    ],
)
def test_encrypt_refuses_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        encrypt("print(1)", PASSWORD, USER, NAME, **kwargs)


def test_encrypt_refuses_empty_code_bad_names_and_bad_user_ids():
    with pytest.raises(ValueError):
        encrypt("", PASSWORD, USER, NAME)
    with pytest.raises(ValueError):
        encrypt("x", PASSWORD, USER, "a/b.py")
    with pytest.raises(ValueError):
        encrypt("x", PASSWORD, "not-a-uuid", NAME)
    with pytest.raises(ValueError):
        encrypt("x" * 11, PASSWORD, USER, NAME, code_limit=10)


def test_a_new_payload_needs_a_master_password_of_twelve_characters_counted_after_nfc():
    with pytest.raises(ValueError, match="at least 12 characters"):
        encrypt("print(1)", "eleven char", USER, NAME)
    # Eleven characters once composed, more code points decomposed: still refused.
    assert "at least 12" in (master_password_problem("cafe\u0301 xxxxxx") or "")
    assert master_password_problem("twelve chars") is None
    assert MIN_MASTER_PASSWORD_CHARS == 12
