"""The golden vector (docs/zkcode-v1-vector.json), byte for byte, and its negative cases."""

import json
import unicodedata
from pathlib import Path

import pytest
from argon2.low_level import Type, hash_secret_raw

from pyth_on_zk import (
    IntegrityError,
    InvalidPayload,
    WrongPassword,
    aad,
    decrypt,
    derive_okm,
    encrypt,
)

# The one golden vector file of the repository, shared with the Rust and JavaScript tests.
VECTOR_PATH = Path(__file__).resolve().parents[3] / "docs" / "zkcode-v1-vector.json"
VECTOR = json.loads(VECTOR_PATH.read_text(encoding="utf-8"))

PASSWORD = VECTOR["inputs"]["password"]
SALT = bytes.fromhex(VECTOR["inputs"]["salt"])
NONCE = bytes.fromhex(VECTOR["inputs"]["nonce"])
USER = VECTOR["inputs"]["userId"]
NAME = VECTOR["inputs"]["name"]
PLAINTEXT = VECTOR["inputs"]["plaintext"].encode()
M, T, P = (VECTOR["inputs"]["kdf"][k] for k in ("m", "t", "p"))
OTHER_PASSWORD = VECTOR["negative"]["otherPassword"]
OTHER_NAME = VECTOR["negative"]["otherName"]
OTHER_USER = VECTOR["negative"]["otherUserId"]

OKM = bytes.fromhex(VECTOR["outputs"]["okm"])
AAD = bytes.fromhex(VECTOR["outputs"]["aad"])
CT = bytes.fromhex(VECTOR["outputs"]["ct"])

# The wire payload as JSON text, pretty-printed (the validation tests edit it as text).
SPEC_JSON = json.dumps(VECTOR["outputs"]["payload"], indent=2)


@pytest.fixture(scope="module")
def golden_payload():
    # One Argon2id derivation, reused by the tests that compare against it.
    return encrypt(PLAINTEXT.decode(), PASSWORD, USER, NAME, salt=SALT, nonce=NONCE)


def test_the_kdf_output_matches_the_golden_okm():
    assert derive_okm(PASSWORD, SALT, M, T, P) == OKM


def test_the_associated_data_matches_the_golden_aad():
    assert aad(M, T, P, USER, NAME) == AAD
    # An upper-case user id is written lower-case in the aad.
    assert aad(M, T, P, USER.upper(), NAME) == AAD


def test_encrypting_the_golden_inputs_gives_the_spec_json(golden_payload):
    import base64

    assert base64.b64decode(golden_payload["ct"]) == CT
    assert base64.b64decode(golden_payload["kc"]) == OKM[32:]
    assert golden_payload == json.loads(SPEC_JSON)
    # Same keys in the same order, so the serialized JSON matches the spec's, compacted.
    compact = json.dumps(json.loads(SPEC_JSON), separators=(",", ":"))
    assert json.dumps(golden_payload, separators=(",", ":")) == compact


def test_bytes_and_str_code_give_the_same_payload(golden_payload):
    assert encrypt(PLAINTEXT, PASSWORD, USER, NAME, salt=SALT, nonce=NONCE) == golden_payload


def test_the_spec_json_decrypts_to_the_golden_plaintext():
    assert decrypt(json.loads(SPEC_JSON), PASSWORD, USER, NAME) == PLAINTEXT
    # The JSON text is accepted too (parsed strictly).
    assert decrypt(SPEC_JSON, PASSWORD, USER, NAME) == PLAINTEXT


def test_another_password_is_a_wrong_password():
    with pytest.raises(WrongPassword):
        decrypt(json.loads(SPEC_JSON), OTHER_PASSWORD, USER, NAME)


def test_another_name_is_an_integrity_failure():
    with pytest.raises(IntegrityError):
        decrypt(json.loads(SPEC_JSON), PASSWORD, USER, OTHER_NAME)


def test_another_user_is_an_integrity_failure():
    with pytest.raises(IntegrityError):
        decrypt(json.loads(SPEC_JSON), PASSWORD, OTHER_USER, NAME)


def test_a_tampered_ciphertext_is_an_integrity_failure():
    import base64

    payload = json.loads(SPEC_JSON)
    ct = bytearray(CT)
    ct[0] ^= 1
    payload["ct"] = base64.b64encode(bytes(ct)).decode()
    with pytest.raises(IntegrityError):
        decrypt(payload, PASSWORD, USER, NAME)


def test_p4_is_refused_before_any_derivation():
    payload = json.loads(SPEC_JSON)
    payload["kdf"]["p"] = 4
    with pytest.raises(InvalidPayload, match="kdf.p"):
        decrypt(payload, PASSWORD, USER, NAME)
    with pytest.raises(ValueError, match="kdf.p"):
        encrypt(PLAINTEXT, PASSWORD, USER, NAME, p=4)


def test_a_32_byte_output_is_not_the_start_of_the_64_byte_one():
    okm32 = hash_secret_raw(PASSWORD.encode(), SALT, T, M, P, 32, Type.ID, 19)
    assert okm32 != OKM[:32]


def test_an_empty_password_is_refused():
    with pytest.raises(ValueError):
        encrypt(PLAINTEXT, "", USER, NAME)
    with pytest.raises(ValueError):
        decrypt(json.loads(SPEC_JSON), "", USER, NAME)


def test_passwords_are_nfc_normalized_and_round_trip():
    # Cheapest accepted parameters: m = 65536 KiB, t = 1.
    composed = "caf\u00e9 p\u00e4ssw\u00f6rd"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    payload = encrypt("print(1)\n", decomposed, USER, "nfc.py", m=65536, t=1)
    assert payload["kdf"]["t"] == 1
    assert decrypt(payload, composed, USER, "nfc.py") == b"print(1)\n"


def test_fresh_encryptions_use_fresh_salt_and_nonce():
    # Different salt/nonce are visible without decrypting; encrypt validates before deriving.
    a = encrypt("x", "a pw of twelve+", USER, "a.py", m=65536, t=1)
    b = encrypt("x", "a pw of twelve+", USER, "a.py", m=65536, t=1)
    assert a["kdf"]["salt"] != b["kdf"]["salt"]
    assert a["nonce"] != b["nonce"]
