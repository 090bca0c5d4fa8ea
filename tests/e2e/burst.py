"""Many requests at the very same moment: each on its own connection,
all connected first, then every request written at once — the burst a
proxy sends when a crowd dials together (what an HTTP client's pool,
queueing requests behind a few connections, never produces)."""
import asyncio
import json
import time


async def _open(host, port):
    return await asyncio.open_connection(host, port)


async def _exchange(reader, writer, request, start):
    await start.wait()
    sent = time.perf_counter()
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b'\r\n\r\n')
    length = 0
    for line in head.split(b'\r\n'):
        name, _, value = line.partition(b':')
        if name.strip().lower() == b'content-length':
            length = int(value)
    body = await reader.readexactly(length) if length else b''
    elapsed = time.perf_counter() - sent
    writer.close()
    return int(head.split()[1]), body, elapsed


async def burst(host, port, key, path, bodies):
    """POST each of ``bodies`` (dicts) to ``path`` at once; return
    [(status, body bytes, seconds from its write to its answer)]"""
    connections = await asyncio.gather(
        *(_open(host, port) for _ in bodies))
    start = asyncio.Event()
    tasks = []
    for (reader, writer), body in zip(connections, bodies):
        data = json.dumps(body).encode()
        request = (f'POST {path} HTTP/1.1\r\nHost: {host}\r\n'
            f'Authorization: Bearer {key}\r\n'
            'Content-Type: application/json\r\n'
            f'Content-Length: {len(data)}\r\n\r\n').encode() + data
        tasks.append(asyncio.ensure_future(
                _exchange(reader, writer, request, start)))
    await asyncio.sleep(0)
    start.set()
    return await asyncio.gather(*tasks)


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (
                        len(values) - 1))))]
