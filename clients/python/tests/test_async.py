"""AsyncClient parity: the same layer, driven by httpx.AsyncClient."""

import asyncio

import pytest

from conftest import PASSWORD, new_email
from pyth_on import AsyncClient, NotFoundError, OutputEvent, ResultEvent, StartEvent


def test_async_client(server):
    async def main() -> None:
        async with AsyncClient(server.url, api_key="") as c:
            reg = await c.register(new_email(), PASSWORD)
            assert (await c.me()).id == reg.user.id
        async with AsyncClient(server.url, reg.api_key) as c:
            assert (await c.execute("print(6 * 7)")).output == "42\n"
            events = [e async for e in c.execute_stream("print('a', flush=True)")]
            assert isinstance(events[0], StartEvent) and isinstance(events[-1], ResultEvent)
            assert "".join(e.text for e in events if isinstance(e, OutputEvent)) == "a\n"
            s = await c.create_session()
            await c.run_cell(s.id, "y = 2")
            assert (await c.run_cell(s.id, "y * 21")).text == "42"
            await c.put_file(s.id, "f.txt", "hi")
            assert await c.get_file(s.id, "f.txt") == b"hi"
            await c.delete_session(s.id)
            with pytest.raises(NotFoundError) as e:
                await c.get_session(s.id)
            assert e.value.request_id
            assert len([x async for x in c.iter_audit(page_size=3)]) >= 3
            await c.zk_store("z.py", "print('zk')", "a master password!")
            assert (await c.zk_run("z.py", "a master password!")).output == "zk\n"

    asyncio.run(main())
