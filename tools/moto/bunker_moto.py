"""Bunker's launcher for the local AWS emulator (moto server, pinned in
requirements.txt) with cross-account RDS snapshot sharing added.

Usage is the same as ``python -m moto.server``::

    .venv/bin/python tools/moto/bunker_moto.py -H 127.0.0.1 -p 5000

Why this exists: moto keeps one RDS backend per (account, region) and always
looks a snapshot up in the caller's own backend, even when the caller names
the snapshot by the ARN of another account. Bunker's whole job is the
cross-account leg (the backup account copies the snapshots that source
accounts shared with it), so without this the copy can never be exercised
locally. Nothing here changes what happens inside one account.

What is patched (everything else is moto as released):

* ``RDSBackend.get_snapshot``: the single lookup that ``copy_db_snapshot`` and
  ``copy_db_cluster_snapshot`` use for their source. An ARN naming another
  account is resolved in that account's backend and accepted only when the
  snapshot's ``restore`` attribute names the caller (or ``all``); otherwise the
  same not-found fault AWS returns. moto's own copy code then builds the copy
  in the caller's backend with the caller's KmsKeyId and tags.
* ``RDSResponse.describe_db_snapshots`` / ``describe_db_cluster_snapshots``:
  an identifier that is another account's ARN is answered through the patched
  lookup, and ``IncludeShared=true`` appends what other accounts shared with
  the caller (moto ignores that parameter). Patched at the response layer, not
  in the backend, because moto's Modify/Delete code paths reuse the backend's
  describe: sharing must not let the caller modify or delete someone else's
  snapshot.
* DynamoDB reads and writes (``get_item``, ``query``, ``scan``, ``put_item``,
  ``update_item``, ``delete_item``, ``transact_write_items``): run one at a
  time under one lock. The server handles requests on several threads and
  moto evaluates a condition and then writes without isolation (a cancelled
  transaction even restores a copy of the table taken when it began, erasing
  concurrent writes), so two concurrent conditional writes could both pass
  and a read could see half a transaction. DynamoDB serializes them, and
  Bunker's copy slots depend on that.

Patches are applied on import of this module, before the server starts.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from typing import Any

import moto
from moto.core.responses import ActionResult
from moto.rds import responses as rds_responses
from moto.rds.exceptions import (
    DBClusterSnapshotNotFoundError,
    DBSnapshotNotFoundFault,
)
from moto.rds.models import (
    DBClusterSnapshot,
    DBSnapshot,
    RDSBackend,
    rds_backends,
)
from moto.rds.utils import split_arn

# The patches rely on moto internals; fail loudly on another version instead
# of silently emulating something else. Bump together with requirements.txt.
SUPPORTED_MOTO = "5.2.5"
if moto.__version__ != SUPPORTED_MOTO:
    sys.exit(
        f"bunker_moto.py was written for moto {SUPPORTED_MOTO}, found "
        f"{moto.__version__}: re-check the patches, then update SUPPORTED_MOTO"
    )


def _foreign_arn(backend: RDSBackend, identifier: str | None) -> tuple[str, str, str] | None:
    """(region, account, name) when ``identifier`` is an RDS ARN owned by an
    account other than the caller's, else None (moto's own path applies)."""
    if not identifier or not identifier.startswith("arn:"):
        return None
    try:
        region, account, _resource_type, name = split_arn(identifier)
    except ValueError:
        return None  # malformed ARN: let moto produce its usual error
    if account == backend.account_id:
        return None
    return region, account, name


def _shared_with(snapshot: DBSnapshot | DBClusterSnapshot, account: str) -> bool:
    """AWS lets an account use another's snapshot when the owner added that
    account id (or ``all``, a public snapshot) to the ``restore`` attribute."""
    allowed = snapshot.attributes.get("restore", [])
    return account in allowed or "all" in allowed


_original_get_snapshot = RDSBackend.get_snapshot


@functools.wraps(_original_get_snapshot)
def _get_snapshot(
    self: RDSBackend,
    identifier: str,
    resource_type: type[DBSnapshot] | type[DBClusterSnapshot],
    not_found_exception: type[DBSnapshotNotFoundFault]
    | type[DBClusterSnapshotNotFoundError],
) -> DBSnapshot | DBClusterSnapshot:
    # ``self`` is the caller's backend: moto's response picks
    # rds_backends[current_account][region], with current_account derived from
    # the request's access key (or MOTO_ACCOUNT_ID / x-moto-account-id), so
    # ``self.account_id`` is the caller's account.
    foreign = _foreign_arn(self, identifier)
    if foreign is None:
        return _original_get_snapshot(self, identifier, resource_type, not_found_exception)
    region, account, name = foreign
    # Indexing creates an empty backend for an account that never made a
    # request; harmless (it holds nothing) and what moto's own lookups do.
    try:
        owner = rds_backends[account][region]
    except KeyError:  # a region moto does not know: nothing can live there
        raise not_found_exception(identifier) from None
    snapshot = owner.resource_map[resource_type].get(name)
    # AWS answers "not found" both for a missing snapshot and for one that
    # exists but was not shared with the caller: do not leak which it is.
    if snapshot is None or not _shared_with(snapshot, self.account_id):
        raise not_found_exception(identifier)
    return snapshot


RDSBackend.get_snapshot = _get_snapshot  # type: ignore[method-assign]


def _include_shared(params: Any) -> bool:
    # moto parses the query protocol into typed values, but accept the raw
    # string too in case a client sends it unparsed.
    value = params.get("IncludeShared")
    return value is True or str(value).lower() == "true"


def _patch_describe(
    method_name: str,
    identifier_param: str,
    result_key: str,
    lookup: str,
    shared: str,
) -> None:
    """Wrap one RDSResponse describe action (see the module docstring)."""
    original = getattr(rds_responses.RDSResponse, method_name)

    @functools.wraps(original)
    def describe(self: rds_responses.RDSResponse) -> ActionResult:
        backend = self.backend
        identifier = self.params.get(identifier_param)
        if _foreign_arn(backend, identifier) is not None:
            # Raises the not-found fault when the snapshot is not shared.
            return ActionResult({result_key: [getattr(backend, lookup)(identifier)]})
        result = original(self)
        snapshot_type = self.params.get("SnapshotType")
        if _include_shared(self.params) and not identifier and snapshot_type is None:
            # Best-effort: filters and DB(Cluster)Identifier are not applied to
            # the shared part.
            listed = result.result[result_key]  # type: ignore[index]
            listed.extend(getattr(backend, shared)())
        return result

    setattr(rds_responses.RDSResponse, method_name, describe)


_patch_describe(
    "describe_db_snapshots",
    "DBSnapshotIdentifier",
    "DBSnapshots",
    "get_db_snapshot",
    "get_shared_db_snapshots",
)
_patch_describe(
    "describe_db_cluster_snapshots",
    "DBClusterSnapshotIdentifier",
    "DBClusterSnapshots",
    "get_db_cluster_snapshot",
    "get_shared_db_cluster_snapshots",
)


def _exit_when_stdin_closes() -> None:
    """With BUNKER_MOTO_EXIT_ON_STDIN_EOF=1 the server exits as soon as its
    stdin reaches end of file. The Node launcher (cli/local/emulator.ts) gives
    the server a pipe as stdin: when Node dies for any reason, even SIGKILL,
    the pipe closes and no orphaned server keeps the port and ~250 MB."""

    def watch() -> None:
        # os.read on the raw fd, not sys.stdin: a daemon thread blocked in a
        # buffered reader aborts the interpreter's shutdown (SIGTERM path).
        try:
            while os.read(0, 4096):
                pass
        finally:
            os._exit(0)  # sys.exit from a thread would not stop werkzeug's serve_forever

    threading.Thread(target=watch, name="bunker-parent-watch", daemon=True).start()


_DYNAMODB_WRITE_LOCK = threading.RLock()


def _serialize_dynamodb_writes() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    for name in ("get_item", "query", "scan", "put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        @functools.wraps(original)
        def serialized(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _DYNAMODB_WRITE_LOCK:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, serialized)


_serialize_dynamodb_writes()


def main(argv: list[str] | None = None) -> None:
    """Start moto's server with the patches above: same arguments as
    ``python -m moto.server`` (-H HOST -p PORT ...)."""
    from moto.server import main as moto_main

    if os.environ.get("BUNKER_MOTO_EXIT_ON_STDIN_EOF") == "1":
        _exit_when_stdin_closes()
    moto_main(argv)


if __name__ == "__main__":
    main()
