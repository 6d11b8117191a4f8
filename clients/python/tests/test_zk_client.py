"""The small stdlib client of pyth_on_zk against a real server."""

import pytest

from pyth_on_zk import ApiError, Client, encrypt


def test_put_and_execute(server, account):
    jwt_client, key = account
    user_id = jwt_client.me().id
    client = Client(server.url + "/", key)
    meta = client.put_code("hello.py", encrypt("print('hello, zk')", "my master password", user_id, "hello.py"))
    assert meta["name"] == "hello.py"
    result = client.execute("hello.py", "my master password")
    assert result["output"] == "hello, zk\n" and result["zeroKnowledge"] is True


def test_errors_raise_api_error(server, account):
    with pytest.raises(ApiError) as e:
        Client(server.url, account[1]).execute("missing", "pw")
    assert e.value.status == 404 and e.value.code == "not_found"
