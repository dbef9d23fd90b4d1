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
* SQL Server (``sqlserver-*``): to a TDS PRELOGIN packet (type 0x12), the
  server's PRELOGIN response (MS-TDS 2.2.6.5: a packet of type 0x04 whose
  options are VERSION, ENCRYPTION off, INSTOPT 0, an empty THREADID and MARS
  off), the VERSION naming the engine version as SQL Server does (major and
  minor byte, build as a big-endian 16-bit number, then the sub-build: RDS's
  ``15.00.4153.1.v1`` is 15.0.4153.1). Anything else as the first packet
  closes the connection, as SQL Server does. No TLS, no LOGIN7.
* Oracle (``oracle-*``): a TNS listener (8-byte header: length, packet
  checksum, type, flags, header checksum). To a CONNECT packet (type 1) whose
  connect data names the database's service (``SERVICE_NAME`` or ``SID``
  equal to its DBName, ``ORCL`` when none was given), ACCEPT (type 2, TNS
  version 314); naming none, REFUSE (type 4) with ``ERR=12504`` in its text
  (TNS-12504: the listener was not given the service name); naming another,
  REFUSE with ``ERR=12514`` (a service the listener does not know). A first
  packet that is not a CONNECT closes the connection. No Net8 data exchange
  follows an ACCEPT.
* Any other engine: accepts the connection and says nothing.

What it is not: a database. It authenticates nobody, answers no query and
stores nothing. It makes the drill's probe testable end to end; it proves
nothing about moto's restore.

A restore of a snapshot tagged ``bunker-moto:engine-greeting`` gets, with
the value ``silent``, a listener that accepts and never answers; with
``closed``, a port nothing listens on (refused); with ``as:<family>``
(``as:mysql``, ``as:postgres``, ``as:sqlserver``, ``as:oracle``), a listener
that speaks that family's protocol instead of the engine's own (another
engine on the database's port). Tests use these for drills of an engine that
does not answer. A listener stops when its database is deleted.
"""

from __future__ import annotations

import functools
import re
import socket
import socketserver
import struct
import threading
from typing import Any

from moto.rds.models import DBCluster, DBInstance, RDSBackend

GREETING_TAG = "bunker-moto:engine-greeting"
ADDRESS = "127.0.0.1"
_READ_TIMEOUT_SECONDS = 5.0


FAMILIES = ("mysql", "postgres", "sqlserver", "oracle")


def _family(engine: str) -> str:
    if engine in ("mysql", "mariadb", "aurora", "aurora-mysql"):
        return "mysql"
    if engine in ("postgres", "aurora-postgresql"):
        return "postgres"
    if re.match(r"^(custom-)?sqlserver-", engine):
        return "sqlserver"
    if re.match(r"^(custom-)?oracle-", engine):
        return "oracle"
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


def _sqlserver_version(version: str) -> tuple[int, int, int, int]:
    """RDS's ``<major>.<minor>.<build>.<revision>.v<n>`` as the four numbers of PRELOGIN's VERSION."""
    parts = [int(p) for p in re.findall(r"\d+", version.split(".v")[0])[:4]]
    major, minor, build, sub = (parts + [0, 0, 0, 0])[:4]
    return major, minor, build, sub


def _tds_prelogin_response(version: str) -> bytes:
    """MS-TDS 2.2.6.5: the option table (token, big-endian offset and length; 0xFF ends it), then the data."""
    major, minor, build, sub = _sqlserver_version(version)
    options = [
        (0x00, struct.pack(">BBHH", major, minor, build, sub)),  # VERSION: UL_VERSION, US_SUBBUILD
        (0x01, b"\x00"),  # ENCRYPTION: ENCRYPT_OFF (the client asked for off; only the login would be encrypted)
        (0x02, b"\x00"),  # INSTOPT: the instance name matched (default instance)
        (0x03, b""),  # THREADID: empty from a server
        (0x04, b"\x00"),  # MARS: off
    ]
    offset = len(options) * 5 + 1
    table, data = b"", b""
    for token, value in options:
        table += struct.pack(">BHH", token, offset + len(data), len(value))
        data += value
    payload = table + b"\xff" + data
    # Header: type 0x04 (tabular result), status 0x01 (end of message), length, SPID 0, packet id 1, window 0.
    return struct.pack(">BBHHBB", 0x04, 0x01, 8 + len(payload), 0, 1, 0) + payload


def _tns_packet(kind: int, body: bytes) -> bytes:
    """A TNS packet: length, packet checksum 0, type, flags 0, header checksum 0, then the body."""
    return struct.pack(">HHBBH", 8 + len(body), 0, kind, 0, 0) + body


def _tns_accept() -> bytes:
    """ACCEPT (type 2): version 314, no service options, SDU 8192, TDU 65535, the value 1 in the
    sender's byte order, no accept data (length 0 at offset 32), connect flags 0."""
    return _tns_packet(2, struct.pack(">HHHHHHHBB", 314, 0, 8192, 65535, 1, 0, 32, 0, 0) + b"\0" * 8)


def _tns_refuse(error: int) -> bytes:
    """REFUSE (type 4): user and system reason bytes, the length of the text, then the text a listener
    sends. VSNNUM is the listener's own version field: left 0 here, and the probe does not read it."""
    text = f"(DESCRIPTION=(TMP=)(VSNNUM=0)(ERR={error})(ERROR_STACK=(ERROR=(CODE={error})(EMFI=4))))".encode()
    return _tns_packet(4, struct.pack(">BBH", 0x22, 0x00, len(text)) + text)


def _tns_service(connect_data: str) -> str:
    """The service a CONNECT's connect descriptor names: SERVICE_NAME, else SID; '' when neither."""
    found = re.search(r"\((?:SERVICE_NAME|SID)=([^)]*)\)", connect_data, re.IGNORECASE)
    return found.group(1).strip() if found else ""


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
                while sock.recv(4096):  # whatever the client says, until it goes or the timeout
                    pass
            elif self.server.family == "mysql":
                sock.sendall(_mysql_greeting(_mysql_version(self.server.engine, self.server.version)))
                sock.recv(1)
            elif self.server.family == "sqlserver":
                self._sqlserver(sock)
            elif self.server.family == "oracle":
                self._oracle(sock)
            else:
                self._postgres(sock)
        except OSError:
            pass

    def _sqlserver(self, sock: socket.socket) -> None:
        header = _recv_exact(sock, 8)
        if header is None or header[0] != 0x12:
            return  # not a PRELOGIN: SQL Server drops the connection
        length = struct.unpack(">H", header[2:4])[0]
        body = _recv_exact(sock, max(0, length - 8))
        if body is None or b"\xff" not in body:
            return
        sock.sendall(_tds_prelogin_response(self.server.version))
        sock.recv(1)

    def _oracle(self, sock: socket.socket) -> None:
        header = _recv_exact(sock, 8)
        if header is None or header[4] != 0x01:
            return  # not a CONNECT: the listener drops the connection
        length = struct.unpack(">H", header[0:2])[0]
        body = _recv_exact(sock, max(0, length - 8))
        if body is None or len(body) < 18:
            return
        # After the header: version, lowest version, …, then (at packet bytes 24-27) the connect data's length and offset.
        data_length, data_offset = struct.unpack(">HH", body[16:20])
        connect_data = (header + body)[data_offset : data_offset + data_length].decode("latin-1")
        service = _tns_service(connect_data)
        if not service:
            sock.sendall(_tns_refuse(12504))
        elif service.upper() == self.server.database.upper():
            sock.sendall(_tns_accept())
        else:
            sock.sendall(_tns_refuse(12514))
        sock.recv(1)

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

    def __init__(self, engine: str, version: str, mode: str, database: str | None) -> None:
        # ``as:<family>``: another engine's protocol on this database's port.
        self.family = mode[3:] if mode.startswith("as:") else _family(engine)
        self.engine = engine
        self.version = version
        self.mode = mode
        # Oracle's service name: the DBName, which RDS defaults to ORCL.
        self.database = database or "ORCL"
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
        value = tag.get("Value") or ""
        if tag.get("Key") == GREETING_TAG and (value in ("silent", "closed") or (value.startswith("as:") and value[3:] in FAMILIES)):
            return value
    return "greeting"


def _listen(target: Any, engine: str, version: str, tags: list[dict[str, str]] | None) -> None:
    mode = _mode(tags)
    database = getattr(target, "db_name", None)
    listener: Any = _ClosedPort() if mode == "closed" else _Listener(engine, version, mode, database)
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
