"""The stdlib Client against a stub HTTP server on 127.0.0.1."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from pyth_on_zk import ApiError, Client

from test_golden import SPEC_JSON


class Stub(BaseHTTPRequestHandler):
    seen = []

    def _handle(self):
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        Stub.seen.append((self.command, self.path, self.headers.get("x-api-key"), body))
        if self.path.endswith("/missing"):
            status, out = 404, {"error": "not found", "code": "not_found", "requestId": "r"}
        elif self.command == "PUT":
            status, out = 201, {"name": "hello.py", "language": "python", "size": 19}
        else:
            status, out = 200, {"output": "hello, zk\n", "exitCode": 0, "zeroKnowledge": True}
        data = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_PUT = do_POST = _handle

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    Stub.seen = []
    httpd = HTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_put_and_execute(server):
    client = Client(server, "pyo_test")
    payload = json.loads(SPEC_JSON)
    assert client.put_code("hello.py", payload)["size"] == 19
    result = client.execute("hello.py", "correct horse battery staple", stdin="x")
    assert result["zeroKnowledge"] is True
    (m1, p1, k1, b1), (m2, p2, k2, b2) = Stub.seen
    assert (m1, p1, k1, b1) == ("PUT", "/api/v1/zk/code/hello.py", "pyo_test", payload)
    assert (m2, p2, k2) == ("POST", "/api/v1/zk/execute/hello.py", "pyo_test")
    assert b2 == {"masterPassword": "correct horse battery staple", "stdin": "x"}


def test_errors_raise_api_error(server):
    with pytest.raises(ApiError) as e:
        Client(server, "pyo_test").execute("missing", "pw")
    assert e.value.status == 404 and e.value.code == "not_found"
