#!/usr/bin/env python3
"""A TCP proxy on loopback, for tests of a network cut: the test kills it (every connection through it
dies at once) and starts it again on the same port (new connections get through).

    tcp_proxy.py --to 127.0.0.1:5432 [--port 0]

Prints `listening 127.0.0.1:PORT` as its first stdout line, as the fakes do.
"""
import argparse
import asyncio
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--port", type=int, default=0, help="port to listen on, 127.0.0.1 (0: any free one)")
    args = parser.parse_args()
    host, _, port = args.to.rpartition(":")

    async def accept(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    server = await asyncio.start_server(accept, "127.0.0.1", args.port, reuse_address=True)
    print(f"listening 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
