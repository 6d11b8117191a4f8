"""The spec's golden vector (shared/spec/zk-format.md), byte for byte, and its negative cases."""

import json
import unicodedata

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

PASSWORD = "correct horse battery staple"
SALT = bytes(range(0x00, 0x10))
NONCE = bytes(range(0x40, 0x58))
USER = "0190a6f2-5b7c-7d2e-8f00-123456789abc"
NAME = "hello.py"
PLAINTEXT = b'print("hello, zk")\n'

OKM = bytes.fromhex(
    "f583c66eb0c983f6be0f1801d34580dba6ce391a35def61fed043c365dc37c52"
    "f1c2815097615f218797ed574c7084ed21fd2609b8d0b3706bffd4dec7e6aeb8"
)
AAD = bytes.fromhex(
    "0500000000000000 0900000000000000 7a6b636f64652f7631"
    "1600000000000000 786368616368613230706f6c79313330352d69657466"
    "1d00000000000000 6172676f6e32696424763d3139246d3d36353533362c743d332c703d31"
    "2400000000000000 30313930613666322d356237632d376432652d386630302d313233343536373839616263"
    "0800000000000000 68656c6c6f2e7079".replace(" ", "")
)
CT = bytes.fromhex("1490ff6a0e8921201594fb77d809d3e97567d9c46ce301cb206833278187f5e861a3ca")

SPEC_JSON = """{
  "v": 1,
  "alg": "xchacha20poly1305-ietf",
  "kdf": {"alg": "argon2id", "ver": 19, "m": 65536, "t": 3, "p": 1,
          "salt": "AAECAwQFBgcICQoLDA0ODw=="},
  "nonce": "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZX",
  "kc": "8cKBUJdhXyGHl+1XTHCE7SH9Jgm40LNwa//U3sfmrrg=",
  "ct": "FJD/ag6JISAVlPt32AnT6XVn2cRs4wHLIGgzJ4GH9ehho8o=",
  "language": "python"
}"""


@pytest.fixture(scope="module")
def golden_payload():
    # One Argon2id derivation, reused by the tests that compare against it.
    return encrypt(PLAINTEXT.decode(), PASSWORD, USER, NAME, salt=SALT, nonce=NONCE)


def test_the_kdf_output_matches_the_golden_okm():
    assert derive_okm(PASSWORD, SALT, 65536, 3, 1) == OKM


def test_the_associated_data_matches_the_golden_aad():
    assert aad(65536, 3, 1, USER, NAME) == AAD
    # An upper-case user id is written lower-case in the aad.
    assert aad(65536, 3, 1, USER.upper(), NAME) == AAD


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
        decrypt(json.loads(SPEC_JSON), "correct horse battery stapler", USER, NAME)


def test_another_name_is_an_integrity_failure():
    with pytest.raises(IntegrityError):
        decrypt(json.loads(SPEC_JSON), PASSWORD, USER, "other.py")


def test_another_user_is_an_integrity_failure():
    with pytest.raises(IntegrityError):
        decrypt(json.loads(SPEC_JSON), PASSWORD, "0190a6f2-5b7c-7d2e-8f00-123456789abd", NAME)


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
    okm32 = hash_secret_raw(PASSWORD.encode(), SALT, 3, 65536, 1, 32, Type.ID, 19)
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
    a = encrypt("x", "pw", USER, "a.py", m=65536, t=1)
    b = encrypt("x", "pw", USER, "a.py", m=65536, t=1)
    assert a["kdf"]["salt"] != b["kdf"]["salt"]
    assert a["nonce"] != b["nonce"]
