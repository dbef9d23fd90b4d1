"""Engine greetings for restored RDS databases (tests name it "launcher:
engine greeting").

moto runs no database: a DB instance restored from a snapshot reports an
endpoint (``<id>.aaaaaaaaaa.<region>.rds.amazonaws.com``) that nobody listens
on, so a restore drill's "engine answers" check could only ever fail here.
With this module, moto reports for every DB instance restored from a DB
snapshot, every cluster restored from a cluster snapshot and every instance
added to such a cluster the endpoint ``127.0.0.1:<port>`` of a tiny listener
the launcher runs for that database (one per database, so each speaks its
own engine version), which plays the first move of the engine family's wire
protocol:

* MySQL, MariaDB, Aurora MySQL: the server's initial handshake packet
  (protocol 10) naming the engine version (Aurora MySQL: its MySQL-compatible
  ``<major>.<minor>.0``), then it closes once the client sends anything.
* PostgreSQL, Aurora PostgreSQL: ``N`` to an SSLRequest, and to a
  StartupMessage an AuthenticationMD5Password request; then it waits for
  the client to go.
* Any other engine: accepts the connection and says nothing.

What it is not: a database. It authenticates nobody, answers no query and
stores nothing, and it speaks neither TDS nor TNS. It makes the drill's
probe testable end to end; it proves nothing about moto's restore.

A restore of a snapshot tagged ``bunker-moto:engine-greeting`` with the value
``silent`` gets a listener that accepts and never answers; with ``closed``, a
port nothing listens on (refused). Tests use these for drills of an engine
that does not answer. A listener stops when its database is deleted.
"""

from __future__ import annotations

import functools
import socket
import socketserver
import struct
import threading
from typing import Any

from moto.rds.models import DBCluster, DBInstance, RDSBackend

GREETING_TAG = "bunker-moto:engine-greeting"
ADDRESS = "127.0.0.1"
_READ_TIMEOUT_SECONDS = 5.0


def _family(engine: str) -> str:
    if engine in ("mysql", "mariadb", "aurora", "aurora-mysql"):
        return "mysql"
    if engine in ("postgres", "aurora-postgresql"):
        return "postgres"
    return "other"


def _mysql_version(engine: str, version: str) -> str:
    """The server version a MySQL-family engine announces in its handshake."""
    if "_aurora" in version:
        major, minor = version.split(".")[:2]
        return f"{major}.{minor}.0"
    if engine == "mariadb":
        return f"5.5.5-{version}-MariaDB"
    return version


def _mysql_greeting(version: str) -> bytes:
    """Handshake v10: version, connection id, salt, capabilities, auth plugin."""
    payload = (
        b"\x0a"
        + version.encode() + b"\0"
        + struct.pack("<I", 1)
        + b"bunkerdr" + b"\0"
        + struct.pack("<H", 0xF7FF) + b"\x21" + struct.pack("<H", 0x0002) + struct.pack("<H", 0x81FF)
        + b"\x15" + b"\0" * 10
        + b"ill-probe-12" + b"\0"
        + b"mysql_native_password\0"
    )
    return struct.pack("<I", len(payload))[:3] + b"\0" + payload


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class _Greeter(socketserver.BaseRequestHandler):
    server: _Listener

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(_READ_TIMEOUT_SECONDS)
        try:
            if self.server.mode == "silent" or self.server.family == "other":
                sock.recv(1)  # until the client goes or the timeout
            elif self.server.family == "mysql":
                sock.sendall(_mysql_greeting(self.server.version))
                sock.recv(1)
            else:
                self._postgres(sock)
        except OSError:
            pass

    def _postgres(self, sock: socket.socket) -> None:
        while True:
            header = _recv_exact(sock, 8)
            if header is None:
                return
            length, code = struct.unpack(">II", header)
            if code == 80877103 and length == 8:  # SSLRequest
                sock.sendall(b"N")
                continue
            if _recv_exact(sock, max(0, length - 8)) is None:
                return
            # AuthenticationMD5Password with a fixed salt; nobody can log in.
            sock.sendall(b"R" + struct.pack(">II", 12, 5) + b"salt")
            sock.recv(1)
            return


class _Listener(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, engine: str, version: str, mode: str) -> None:
        self.family = _family(engine)
        self.version = _mysql_version(engine, version)
        self.mode = mode
        super().__init__((ADDRESS, 0), _Greeter)
        threading.Thread(target=self.serve_forever, name=f"bunker-engine-{engine}", daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def stop(self) -> None:
        # shutdown() waits for serve_forever's next poll: not on the request's thread.
        def stop() -> None:
            self.shutdown()
            self.server_close()

        threading.Thread(target=stop, daemon=True).start()


class _ClosedPort:
    """A port nothing listens on: bound, then released at once."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind((ADDRESS, 0))
            self.port = int(probe.getsockname()[1])

    def stop(self) -> None:
        pass


def _mode(tags: list[dict[str, str]] | None) -> str:
    for tag in tags or []:
        if tag.get("Key") == GREETING_TAG and tag.get("Value") in ("silent", "closed"):
            return tag["Value"]
    return "greeting"


def _listen(target: Any, engine: str, version: str, tags: list[dict[str, str]] | None) -> None:
    mode = _mode(tags)
    listener: Any = _ClosedPort() if mode == "closed" else _Listener(engine, version, mode)
    target._bunker_listener = listener
    target.port = listener.port


def _stop(target: Any) -> None:
    listener = getattr(target, "_bunker_listener", None)
    if listener is not None and not getattr(target, "_bunker_shared_listener", False):
        listener.stop()


def _patch() -> None:
    original_instance_address = DBInstance.address
    original_cluster_endpoint = DBCluster.endpoint

    DBInstance.address = property(  # type: ignore[method-assign,assignment]
        lambda self: ADDRESS if hasattr(self, "_bunker_listener") else original_instance_address.fget(self)
    )
    DBCluster.endpoint = property(  # type: ignore[method-assign,assignment]
        lambda self: ADDRESS if hasattr(self, "_bunker_listener") else original_cluster_endpoint.fget(self)
    )

    restore_instance = RDSBackend.restore_db_instance_from_db_snapshot

    @functools.wraps(restore_instance)
    def restore_db_instance_from_db_snapshot(self: RDSBackend, from_snapshot_id: str, overrides: Any) -> Any:
        instance = restore_instance(self, from_snapshot_id, overrides)
        name = from_snapshot_id.split(":")[-1]
        snapshot = self.database_snapshots.get(name)
        _listen(instance, instance.engine, str(instance.engine_version), getattr(snapshot, "tags", None))
        return instance

    restore_cluster = RDSBackend.restore_db_cluster_from_snapshot

    @functools.wraps(restore_cluster)
    def restore_db_cluster_from_snapshot(self: RDSBackend, from_snapshot_id: str, overrides: Any) -> Any:
        cluster = restore_cluster(self, from_snapshot_id, overrides)
        snapshot = self.cluster_snapshots.get(from_snapshot_id.split(":")[-1])
        _listen(cluster, cluster.engine, str(cluster.engine_version), getattr(snapshot, "tags", None))
        return cluster

    create_instance = RDSBackend.create_db_instance

    @functools.wraps(create_instance)
    def create_db_instance(self: RDSBackend, db_kwargs: dict[str, Any]) -> Any:
        instance = create_instance(self, db_kwargs)
        cluster = self.clusters.get(db_kwargs.get("db_cluster_identifier") or "")
        if cluster is not None and hasattr(cluster, "_bunker_listener"):
            # An instance of a restored cluster: the cluster's listener is its endpoint too.
            instance._bunker_listener = cluster._bunker_listener
            instance._bunker_shared_listener = True
            instance.port = cluster.port
        return instance

    delete_instance = RDSBackend.delete_db_instance

    @functools.wraps(delete_instance)
    def delete_db_instance(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        instance = delete_instance(self, *args, **kwargs)
        _stop(instance)
        return instance

    delete_cluster = RDSBackend.delete_db_cluster

    @functools.wraps(delete_cluster)
    def delete_db_cluster(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        cluster = delete_cluster(self, *args, **kwargs)
        _stop(cluster)
        return cluster

    RDSBackend.restore_db_instance_from_db_snapshot = restore_db_instance_from_db_snapshot  # type: ignore[method-assign]
    RDSBackend.restore_db_cluster_from_snapshot = restore_db_cluster_from_snapshot  # type: ignore[method-assign]
    RDSBackend.create_db_instance = create_db_instance  # type: ignore[method-assign]
    RDSBackend.delete_db_instance = delete_db_instance  # type: ignore[method-assign]
    RDSBackend.delete_db_cluster = delete_db_cluster  # type: ignore[method-assign]


_patch()
