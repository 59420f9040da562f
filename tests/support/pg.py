"""A throwaway PostgreSQL server for the test session (initdb + pg_ctl on a free port).

``initdb`` refuses to run as root, so as root the server runs as the ``postgres`` OS
user (``runuser``); as any other user it runs as that user.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _find(binary: str) -> str:
    found = shutil.which(binary)
    if found:
        return found
    for candidate in sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{binary}"), reverse=True
    ):
        return str(candidate)
    raise RuntimeError(f"{binary} not found: install the PostgreSQL server binaries")


@dataclass
class PostgresServer:
    port: int
    datadir: Path
    user: str = "postgres"

    @property
    def admin_dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres"

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str, template: str | None = None) -> str:
        tmpl = f" TEMPLATE {template}" if template else ""
        self.execute(f'CREATE DATABASE "{name}"{tmpl}')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(
            _as_server_user(
                [_find("pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"]
            ),
            check=False,
            capture_output=True,
        )

    def start(self) -> None:
        subprocess.run(
            _as_server_user(
                [
                    _find("pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-w",
                    "-t",
                    "60",
                    "-l",
                    str(self.datadir / "server.log"),
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )


def start_server() -> PostgresServer:
    root = Path(tempfile.mkdtemp(prefix="cc-pg-"))
    datadir = root / "data"
    datadir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(datadir, "postgres")
        os.chmod(root, 0o755)
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    subprocess.run(
        _as_server_user(
            [
                _find("initdb"),
                "-D",
                str(datadir),
                "-U",
                user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    port = free_port()
    with open(datadir / "postgresql.conf", "a") as conf:
        conf.write(
            f"\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{root}'\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            "max_connections = 200\nshared_buffers = 128MB\n"
        )
    server = PostgresServer(port=port, datadir=datadir, user=user)
    server.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            server.execute("SELECT 1")
            return server
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def destroy(server: PostgresServer) -> None:
    server.stop()
    shutil.rmtree(server.datadir.parent, ignore_errors=True)
