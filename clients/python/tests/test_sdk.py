"""pyth_on.Client against a real server (conftest.py starts it)."""

import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from conftest import PASSWORD, new_email
from pyth_on import (
    AuthError,
    Client,
    ConflictError,
    ExecuteResult,
    ForbiddenError,
    InputFile,
    NotFoundError,
    OutputEvent,
    QuotaOverrides,
    RateLimitError,
    ResultEvent,
    StartEvent,
    ValidationError,
)


def test_three_lines(server, client, monkeypatch):
    monkeypatch.setenv("PYTH_ON_URL", server.url)
    monkeypatch.setenv("PYTH_ON_API_KEY", client.api_key)
    result = Client().execute("print(6 * 7)")
    assert isinstance(result, ExecuteResult)
    assert result.output == "42\n" and result.exit_code == 0 and result.ok


def test_execute_options_and_files(client):
    r = client.execute(
        "import sys, util\nprint(sys.argv[1:], input(), util.f())\nopen('out.txt','w').write('made')\n"
        "open('b.bin','wb').write(bytes([0,255]))",
        stdin="in", args=["a"], files={"util.py": "def f(): return 'helper'"},
        output_files=["*.txt", "*.bin"], timeout_ms=5000,
    )
    assert r.output == "['a'] in helper\n", r
    files = {f.path: f for f in r.files}
    assert files["out.txt"].data == b"made" and files["b.bin"].data == b"\x00\xff"
    r2 = client.execute(files=[InputFile("main.py", "print('entry')")], entry="main.py")
    assert r2.output == "entry\n"
    r3 = client.execute("raise SystemExit(3)")
    assert r3.exit_code == 3 and not r3.ok


def test_streaming_events_and_cancel(client):
    events = list(client.execute_stream("import sys\nprint('out', flush=True)\nprint('err', file=sys.stderr)"))
    assert isinstance(events[0], StartEvent) and events[0].execution_id
    out = "".join(e.text for e in events if isinstance(e, OutputEvent) and e.stream == "stdout")
    assert out == "out\n"
    assert isinstance(events[-1], ResultEvent) and events[-1].result.exit_code == 0

    stream = client.execute_stream("import time\nprint('go', flush=True)\ntime.sleep(30)")
    start = next(stream)
    assert isinstance(start, StartEvent) and start.execution_id
    client.cancel(start.execution_id)
    last = list(stream)[-1]
    assert isinstance(last, ResultEvent) and last.result.cancelled is True


def test_session_state_files_and_stream(client):
    s = client.create_session(language="python", idle_timeout_sec=60)
    try:
        assert client.run_cell(s.id, "x = 20").error is None
        assert client.run_cell(s.id, "x + 22").text == "42"
        assert client.put_file(s.id, "data/a b.csv", b"1,2\n").size == 4
        assert client.get_file(s.id, "data/a b.csv") == b"1,2\n"
        listing = client.list_files(s.id, "data")
        assert [e.path for e in listing.entries] == ["data/a b.csv"]
        events = list(client.run_cell_stream(s.id, "print(open('data/a b.csv').read().strip())"))
        assert isinstance(events[0], StartEvent) and events[0].session_id == s.id
        assert isinstance(events[-1], ResultEvent) and events[-1].result.stdout == "1,2\n"
        failed = client.run_cell(s.id, "1/0")
        assert failed.error is not None and failed.error.name == "ZeroDivisionError"
        assert client.interrupt(s.id) is False
        client.delete_file(s.id, "data")
        with pytest.raises(NotFoundError) as e:
            client.get_file(s.id, "data/a b.csv")
        assert e.value.code == "file_not_found"
        assert s.id in [x.id for x in client.list_sessions()]
        assert client.get_session(s.id).status == "idle"
        with pytest.raises(ValueError):
            client.get_file(s.id, "../etc/passwd")
    finally:
        client.delete_session(s.id)
    with pytest.raises(NotFoundError):
        client.get_session(s.id)


def test_secrets_scoped(client):
    client.set_secret("TOKEN_A", "alpha-secret")
    client.set_secret("TOKEN_B", "bravo-secret")
    assert [s.name for s in client.list_secrets()] == ["TOKEN_A", "TOKEN_B"]
    code = "import os\nprint(os.environ.get('TOKEN_A'), os.environ.get('TOKEN_B'))"
    assert client.execute(code, secrets=["TOKEN_A"]).output == "*** None\n"
    assert client.execute(code, secrets=[]).output == "None None\n"
    s = client.create_session(secrets=["TOKEN_B"])
    assert client.run_cell(s.id, code).stdout == "None ***\n"
    client.delete_session(s.id)
    with pytest.raises(ValidationError) as e:
        client.execute("print(1)", secrets=["NOPE"])
    assert e.value.code == "unknown_secret" and e.value.status == 400
    client.delete_secret("TOKEN_B")
    with pytest.raises(NotFoundError):
        client.delete_secret("TOKEN_B")


def test_errors_map_to_classes(server, client, account):
    with pytest.raises(NotFoundError) as e:
        client.get_session(str(uuid.uuid4()))
    assert e.value.status == 404 and e.value.code == "not_found" and e.value.request_id
    with pytest.raises(AuthError) as e2:
        Client(server.url, "pyo_" + "A" * 43 + "_xxxxxx").me()
    assert e2.value.status == 401 and e2.value.request_id
    with pytest.raises(ForbiddenError) as e3:
        client.list_keys()
    assert e3.value.code == "jwt_required"
    with pytest.raises(ConflictError) as e4:
        Client(server.url, api_key="").register(account[0].me().email, PASSWORD)
    assert e4.value.code == "email_taken"
    with pytest.raises(ValidationError) as e5:
        client.execute("x", language="cobol")
    assert e5.value.code == "unsupported_language"


def test_retry_on_429_honours_retry_after(limited_server):
    reg = Client(limited_server.url, api_key="").register(new_email(), PASSWORD)
    eager = Client(limited_server.url, reg.api_key, max_retries=0)
    with pytest.raises(RateLimitError) as e:
        for _ in range(5):
            eager.me()
    assert e.value.status == 429 and e.value.retry_after and e.value.retry_after > 0
    patient = Client(limited_server.url, reg.api_key, max_retries=3)
    started = time.monotonic()
    assert patient.me().id == reg.user.id
    assert time.monotonic() - started >= min(e.value.retry_after, 30) * 0.5


def test_auth_tokens_keys_and_refresh(server):
    c = Client(server.url, api_key="")
    email = new_email()
    c.register(email, PASSWORD)
    login = c.login(email, PASSWORD)
    assert c.verify().valid and c.verify().user.email == email
    key = c.create_key("ci")
    assert key.api_key.startswith("pyo_") and key.id in [k.id for k in c.list_keys()]
    assert Client(server.url, key.api_key).me().email == email
    c.delete_key(key.id)
    with pytest.raises(AuthError):
        Client(server.url, key.api_key).me()
    # An access token that no longer works is replaced through the refresh token.
    old_refresh = c.refresh_token
    c.token = login.token[:-4] + "AAAA"
    assert c.me().email == email and c.refresh_token != old_refresh
    assert len(c.sign_ins()) >= 2
    other = [s for s in c.sign_ins() if not s.current][0]
    c.revoke_sign_in(other.id)
    assert c.update_settings(secrets_default="none").secrets_default == "none"
    c.change_password(PASSWORD, PASSWORD + "!")
    assert c.usage().runs.used == 0
    c.logout()
    assert c.token is None
    c2 = Client(server.url, api_key="")
    c2.login(email, PASSWORD + "!")
    c2.delete_account(PASSWORD + "!")
    with pytest.raises(AuthError):
        Client(server.url, api_key="").login(email, PASSWORD + "!")


def test_zero_knowledge_round_trip(client):
    meta = client.zk_store("hello.py", "print('hello, zk', input())", "a master password!")
    assert meta.name == "hello.py" and meta.kdf.m > 0
    assert [m.name for m in client.zk_list()] == ["hello.py"]
    r = client.zk_run("hello.py", "a master password!", stdin="there")
    assert r.output == "hello, zk there\n" and r.zero_knowledge is True
    with pytest.raises(ForbiddenError) as e:
        client.zk_run("hello.py", "wrong password")
    assert e.value.code == "zk_wrong_password"
    client.zk_delete("hello.py")
    assert client.zk_list() == []


def instant(timestamp):
    """An API timestamp (RFC 3339 in UTC, `Z`, with or without a fraction) as a datetime."""
    for form in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(timestamp, form)
        except ValueError:
            pass
    raise ValueError(f"not an API timestamp: {timestamp}")


def test_audit_egress_packages_info(server, client):
    client.execute("print(1)")
    entries = list(client.iter_audit(page_size=2))
    # Compared as instants: RFC 3339 text drops trailing zeros (".4Z" is 400 ms, and sorts
    # after ".445Z" as text).
    assert len(entries) >= 3 and instant(entries[0].timestamp) >= instant(entries[-1].timestamp)
    assert all(e.action.startswith("execute") for e in client.iter_audit(action="execute"))
    assert client.verify_audit().valid
    assert client.get_egress_allow() is None
    assert sorted(client.set_egress_allow(["PyPI.org", "*.github.com"]) or []) == ["*.github.com", "pypi.org"]
    client.delete_egress_allow()
    assert client.list_packages().packages == []
    with pytest.raises(ValidationError) as e:
        client.add_package("git+https://x")
    assert e.value.code == "invalid_package"
    info = client.info()
    assert info.version == "0.1.0" and info.features.registration == "open"
    assert client.health().status in ("ok", "degraded") and client.live()
    assert "paths" in client.openapi()


def test_admin(server):
    email = new_email()
    server.create_admin(email, PASSWORD)
    admin = Client(server.url, api_key="")
    admin.login(email, PASSWORD)
    created = admin.admin_create_user(new_email())
    uid = created.user.id
    assert created.password
    assert uid in [u.id for u in admin.iter_admin_users(page_size=1)]
    admin.admin_disable_user(uid)
    with pytest.raises(ForbiddenError) as e:
        Client(server.url, api_key="").login(created.user.email, created.password)
    assert e.value.code == "account_disabled"
    admin.admin_enable_user(uid)
    admin.admin_set_role(uid, "admin")
    admin.admin_set_role(uid, "user")
    q = admin.admin_set_quota(uid, QuotaOverrides(runs_per_day=5))
    assert q.runs_per_day == 5 and admin.admin_get_quota(uid).overrides.runs_per_day == 5
    inv = admin.admin_create_invitation(note="for a friend", expires_in_hours=2)
    assert inv.code.startswith("pyi_") and inv.invitation.id in [i.id for i in admin.admin_invitations()]
    invited = Client(server.url, api_key="").register(new_email(), PASSWORD, invitation=inv.code)
    assert invited.user.role == "user"
    admin.admin_delete_invitation(inv.invitation.id)
    admin.admin_delete_user(uid)
    with pytest.raises(ForbiddenError) as e2:
        Client(server.url, invited.api_key).admin_users()
    assert e2.value.code == "admin_required"


def test_sync_client_is_generated_from_async():
    script = Path(__file__).resolve().parents[1] / "scripts" / "unasync.py"
    assert subprocess.run([sys.executable, str(script), "--check"]).returncode == 0
