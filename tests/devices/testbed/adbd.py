"""A small adbd for the tests: the ADB wire protocol over TCP, running commands in a chroot.

It speaks what the real `adb` client (platform-tools 29+) uses: CNXN without auth; OPEN of
`shell:`, `shell,v2,...:` (stdout/stderr/exit-code packets) and `exec:` services; and the sync
service (STAT, LIST, SEND, RECV, QUIT) for push and pull. Files and commands live in ROOTFS, so
`adb connect 127.0.0.1:PORT` reaches an arm64 Debian "phone" under qemu-user.

    python -m tests.devices.testbed.adbd --rootfs ROOTFS --port PORT
"""

from __future__ import annotations

import argparse
import asyncio
import os
import stat
import struct
import sys
from pathlib import Path

A_CNXN, A_OPEN, A_OKAY, A_WRTE, A_CLSE = (
    int.from_bytes(c, "little") for c in (b"CNXN", b"OPEN", b"OKAY", b"WRTE", b"CLSE")
)
VERSION, MAX_PAYLOAD = 0x01000001, 256 * 1024
BANNER = b"device::ro.product.name=edgedistill_test;ro.product.model=arm64_test_device;ro.product.device=generic_arm64;features=shell_v2,cmd\0"
SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT = 1, 2, 3


def packet(command: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    return struct.pack("<6I", command, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, command ^ 0xFFFFFFFF) + data


class Stream:
    def __init__(self, conn: Connection, local_id: int, remote_id: int) -> None:
        self.conn, self.local_id, self.remote_id = conn, local_id, remote_id
        self.incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.acked = asyncio.Event()
        self.acked.set()
        self.buffer = b""

    async def write(self, data: bytes) -> None:
        for i in range(0, len(data), self.conn.max_payload):
            await self.acked.wait()  # classic flow control: one WRTE in flight
            self.acked.clear()
            self.conn.send(A_WRTE, self.local_id, self.remote_id, data[i : i + self.conn.max_payload])
            await self.conn.writer.drain()

    async def read_exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = await self.incoming.get()
            if chunk is None:
                raise EOFError
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    async def close(self) -> None:
        await self.acked.wait()
        self.conn.send(A_CLSE, self.local_id, self.remote_id)
        self.conn.streams.pop(self.local_id, None)


class Connection:
    def __init__(self, server: Adbd, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server, self.reader, self.writer = server, reader, writer
        self.streams: dict[int, Stream] = {}
        self.next_id = 1
        self.max_payload = 4096
        self.tasks: set[asyncio.Task] = set()

    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        self.writer.write(packet(command, arg0, arg1, data))

    async def serve(self) -> None:
        try:
            while True:
                header = await self.reader.readexactly(24)
                command, arg0, arg1, length, _crc, _magic = struct.unpack("<6I", header)
                data = await self.reader.readexactly(length) if length else b""
                await self.dispatch(command, arg0, arg1, data)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for task in self.tasks:
                task.cancel()
            self.writer.close()

    async def dispatch(self, command: int, arg0: int, arg1: int, data: bytes) -> None:
        if command == A_CNXN:
            self.max_payload = min(arg1, MAX_PAYLOAD) or 4096
            self.send(A_CNXN, VERSION, MAX_PAYLOAD, BANNER)
        elif command == A_OPEN:
            local_id, self.next_id = self.next_id, self.next_id + 1
            stream = Stream(self, local_id, arg0)
            self.streams[local_id] = stream
            self.send(A_OKAY, local_id, arg0)
            task = asyncio.ensure_future(self.server.service(stream, data.rstrip(b"\0").decode()))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        elif command == A_OKAY and arg1 in self.streams:
            self.streams[arg1].acked.set()
        elif command == A_WRTE and arg1 in self.streams:
            self.send(A_OKAY, arg1, arg0)
            self.streams[arg1].incoming.put_nowait(data)
        elif command == A_CLSE and arg1 in self.streams:
            self.streams.pop(arg1).incoming.put_nowait(None)
        await self.writer.drain()


class Adbd:
    def __init__(self, rootfs: Path) -> None:
        self.rootfs = rootfs

    def host_path(self, device_path: str) -> Path:
        return self.rootfs / device_path.lstrip("/")

    async def service(self, stream: Stream, name: str) -> None:
        try:
            if name.startswith("shell,") or name.startswith("shell:") or name.startswith("exec:"):
                await self.shell(stream, name)
            elif name == "sync:":
                await self.sync(stream)
            else:
                await stream.write(f"FAIL unsupported service {name}".encode())
        except EOFError:
            pass
        finally:
            if stream.local_id in stream.conn.streams:
                await stream.close()
            await stream.conn.writer.drain()

    async def shell(self, stream: Stream, name: str) -> None:
        service, _, command = name.partition(":")
        v2 = service.startswith("shell,") and "v2" in service.split(",")
        argv = ["chroot", str(self.rootfs), "/bin/sh", "-c", command or "exec /bin/sh -i"]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE if v2 else asyncio.subprocess.STDOUT,
        )

        async def pump(pipe: asyncio.StreamReader, channel: int) -> None:
            while chunk := await pipe.read(4096):
                await stream.write(struct.pack("<BI", channel, len(chunk)) + chunk if v2 else chunk)

        pumps = [pump(proc.stdout, SHELL_STDOUT)] + ([pump(proc.stderr, SHELL_STDERR)] if v2 else [])
        await asyncio.gather(*pumps)
        code = await proc.wait()
        if v2:
            await stream.write(struct.pack("<BIB", SHELL_EXIT, 1, code & 0xFF))

    async def sync(self, stream: Stream) -> None:
        while True:
            ident, length = struct.unpack("<4sI", await stream.read_exactly(8))
            if ident == b"QUIT":
                return
            if ident == b"DATA" or ident == b"DONE":
                raise EOFError  # out of order
            path = (await stream.read_exactly(length)).decode()
            if ident == b"STAT":
                try:
                    st = os.lstat(self.host_path(path))
                    await stream.write(
                        struct.pack("<4s3I", b"STAT", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime))
                    )
                except OSError:
                    await stream.write(struct.pack("<4s3I", b"STAT", 0, 0, 0))
            elif ident == b"LIST":
                folder = self.host_path(path)
                for entry in sorted(os.listdir(folder)) if folder.is_dir() else []:
                    st = os.lstat(folder / entry)
                    name = entry.encode()
                    await stream.write(
                        struct.pack("<4s4I", b"DENT", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(name))
                        + name
                    )
                await stream.write(struct.pack("<4s4I", b"DONE", 0, 0, 0, 0))
            elif ident == b"SEND":
                target, _, mode = path.rpartition(",")
                chunks = []
                while True:
                    kind, size = struct.unpack("<4sI", await stream.read_exactly(8))
                    if kind == b"DONE":
                        break
                    chunks.append(await stream.read_exactly(size))
                try:
                    dest = self.host_path(target)
                    dest.write_bytes(b"".join(chunks))
                    os.chmod(dest, int(mode) & 0o7777 if mode.isdigit() else 0o644)
                    await stream.write(struct.pack("<4sI", b"OKAY", 0))
                except OSError as exc:
                    msg = f"{target}: {exc.strerror}".encode()
                    await stream.write(struct.pack("<4sI", b"FAIL", len(msg)) + msg)
            elif ident == b"RECV":
                source = self.host_path(path)
                if not source.is_file():
                    msg = f"{path}: No such file or directory".encode()
                    await stream.write(struct.pack("<4sI", b"FAIL", len(msg)) + msg)
                    continue
                data = source.read_bytes()
                for i in range(0, len(data), 64 * 1024):
                    part = data[i : i + 64 * 1024]
                    await stream.write(struct.pack("<4sI", b"DATA", len(part)) + part)
                await stream.write(struct.pack("<4sI", b"DONE", 0))
            else:
                msg = f"unsupported sync request {ident!r}".encode()
                await stream.write(struct.pack("<4sI", b"FAIL", len(msg)) + msg)
                return


async def main_async(rootfs: Path, port: int) -> None:
    adbd = Adbd(rootfs)
    server = await asyncio.start_server(lambda r, w: Connection(adbd, r, w).serve(), "127.0.0.1", port)
    print(f"adbd listening on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rootfs", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if not stat.S_ISDIR(os.stat(args.rootfs).st_mode):
        sys.exit(f"{args.rootfs}: not a folder")
    asyncio.run(main_async(args.rootfs, args.port))


if __name__ == "__main__":
    main()
