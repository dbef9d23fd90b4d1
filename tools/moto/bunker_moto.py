"""Bunker's launcher for the local AWS emulator (moto server, pinned in
requirements.txt) with cross-account sharing of RDS snapshots, EBS snapshots
and AMIs added, and the storage and encryption facts of EBS snapshots and
AMIs kept.

Usage is the same as ``python -m moto.server``::

    .venv/bin/python tools/moto/bunker_moto.py -H 127.0.0.1 -p 5000

Why this exists: moto keeps one RDS and one EC2 backend per (account, region)
and always looks a snapshot up in the caller's own backend, even when the
caller names it by the ARN of another account (RDS) or by a ``snap-``/``ami-``
id, which AWS resolves across accounts within a Region (EC2). Bunker's whole
job is the cross-account leg (the backup account copies the snapshots and
images that source accounts shared with it), so without this the copy can
never be exercised locally. The RDS patches change nothing inside one
account; the EC2 ones do where moto dropped a fact (which key encrypts a
snapshot, which snapshots back an image), ignored a parameter or answered
unlike AWS, as noted per patch.

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
* ``ElasticBlockStore.copy_snapshot`` (CopySnapshot, replaced): the source
  is looked up in SourceRegion, first among the caller's own snapshots, then
  among other accounts' snapshots whose ``createVolumePermission`` names the
  caller (or the group ``all``); a snapshot that is missing or not shared
  answers the same ``InvalidSnapshot.NotFound``. The copy lands in the
  caller's account in the client's Region, tagged from TagSpecifications,
  with the encryption AWS documents: KmsKeyId requires Encrypted (moto's
  ``InvalidParameterDependency``, as for CreateVolume); a given KmsKeyId is
  the copy's key; a copy of an encrypted snapshot is always encrypted; with no
  KmsKeyId it keeps the source's key when that key is the caller's own in the
  destination Region, else it gets the caller's default EBS key
  (``alias/aws/ebs``). moto ignored Encrypted, did not look beyond the
  caller's account and left the description empty (AWS: ``[Copied snap-… from
  region]``).
* ``ElasticBlockStore.describe_snapshots`` (DescribeSnapshots, replaced):
  SnapshotIds resolve like the copy's source, so another account's snapshot
  is returned (with its owner's OwnerId) only when shared with the caller;
  without ids the listing adds the snapshots other accounts shared with the
  caller, as AWS lists every snapshot the caller may restore; ``OwnerIds``
  (``self`` or account ids) and ``RestorableByUserIds`` (``self``, ``all`` or
  account ids) are honoured (moto ignored both); filters apply as before.
  Patched at the response layer: moto's Modify/Delete paths use the backend's
  own lookup, so sharing never lets the caller change or delete someone
  else's snapshot.
* ``ElasticBlockStore.modify_snapshot_attribute``: the structured
  ``CreateVolumePermission={Add: [...], Remove: [...]}`` form, which moto
  silently ignored, now adds and removes user ids and the group ``all``; the
  ``OperationType``/``UserIds``/``GroupNames`` form is moto's as before.
* ``EBSBackend.create_snapshot``: a snapshot of an encrypted volume carries
  the volume's KmsKeyId (moto set Encrypted but dropped the key). Also covers
  CreateSnapshots.
* ``Ami.block_device_mappings`` (a property): moto backs every image
  with one new unencrypted 15 GiB snapshot made when the image object is
  built. Images the launcher registers, creates or copies record their own
  block devices (snapshot, size, type, DeleteOnTermination) and drop that
  extra snapshot; BlockDeviceMappings are rendered from the devices, with
  ``Encrypted`` from each snapshot. A snapshot backing an image gets moto's
  ``from_ami`` mark, so DeleteSnapshot answers ``InvalidSnapshot.InUse`` while
  the image is registered, as AWS does. moto's default images keep their
  single root snapshot.
* ``AmisResponse.register_image`` (RegisterImage): BlockDeviceMappings are
  honoured (Ebs.SnapshotId must be one of the caller's snapshots in the
  Region, else ``InvalidSnapshot.NotFound``; VolumeSize defaults to the
  snapshot's), with RootDeviceName, Architecture, VirtualizationType and the
  ``image`` TagSpecifications (moto ignored all of them). Without mappings it
  is moto's image as before, tagged.
* ``AmiBackend.create_image`` (CreateImage): the image is backed by a new
  snapshot of each volume attached to the instance (through the patched
  create_snapshot, so an encrypted volume's key is kept), described as AWS
  does (``Created by CreateImage(i-…) for ami-…``); ``snapshot``
  TagSpecifications tag them (moto raised NotImplementedError).
* ``AmisResponse.copy_image`` (CopyImage, replaced): the source is looked up
  in SourceRegion, first among the caller's own images, then among other
  accounts' images whose ``launchPermission`` names the caller (or ``all``);
  a missing or unshared image answers ``InvalidAMIID.NotFound``. Another
  account's image is copied only when every backing snapshot's
  ``createVolumePermission`` names the caller too; otherwise the answer is
  AWS's ``InvalidRequest`` "You do not have permission to access the storage
  of this ami", to which the launcher appends the unshared snapshot ids (AWS
  does not name them). Each backing snapshot is copied into the caller's
  account in the client's Region with the same encryption rules as
  CopySnapshot (Encrypted, KmsKeyId), described and tagged as AWS does, and
  the new image (SourceImageId, SourceImageRegion, ``image`` tags) is backed
  by the copies. A repeated ClientToken returns the first copy's image id
  (moto made a new image each time); the same token with another source
  answers ``IdempotentParameterMismatch``.
* ``AmisResponse.describe_images`` (DescribeImages): an ImageIds entry that
  is not the caller's is answered with another account's image shared with
  the caller (with its owner's OwnerId), else ``InvalidAMIID.NotFound`` (also
  when listed with found ids; moto answered only when none was found).
  Without ids the images other accounts shared with the caller are added to
  moto's listing, subject to ExecutableUsers (``self``, ``all`` or account
  ids), Owners and filters. Response layer, as for snapshots:
  ModifyImageAttribute and DeregisterImage keep using the caller's own
  images.
* ``AmiBackend.describe_image_attribute``: an image id the caller does not
  own answers ``InvalidAMIID.NotFound`` (moto's KeyError was an internal
  server error, which SDKs retry). The owner's launchPermission reads as in
  moto.
* ``EBSBackend.create_volume`` (CreateVolume, RunInstances' volumes): a
  volume made from an encrypted snapshot without a KmsKeyId is under the
  snapshot's key, as in AWS (moto set Encrypted and no key).
* ``Instance.setup_defaults`` (RunInstances): an instance of an image the
  launcher recorded gets one volume per block device of the image, made from
  the device's snapshot at its device name (so encrypted under that
  snapshot's key), deleted on termination as the image says; moto gave every
  instance one new unencrypted 8 GiB volume at ``/dev/sda1``. Restore drills
  read the root volume's key back.
* DynamoDB reads and writes (``get_item``, ``query``, ``scan``, ``put_item``,
  ``update_item``, ``delete_item``, ``transact_write_items``): run one at a
  time under one lock. The server handles requests on several threads and
  moto evaluates a condition and then writes without isolation (a cancelled
  transaction even restores a copy of the table taken when it began, erasing
  concurrent writes), so two concurrent conditional writes could both pass
  and a read could see half a transaction. DynamoDB serializes them, and
  Bunker's copy slots depend on that.

* DynamoDB exports (``ExportTableToPointInTime``, ``DescribeExport``,
  replaced): moto wrote one data file of the table as it is now at a random
  key, with a malformed ExportArn (``table/<table ARN>/import/…``), no
  manifests and no incremental export. The launcher writes what AWS writes,
  under ``<S3Prefix>/AWSDynamoDB/<exportId>/``: ``data/*.json.gz`` (gzip
  DYNAMODB_JSON lines, binary in base64, 1,000 lines a file),
  ``manifest-files.json`` (itemCount, md5Checksum, etag, dataFileS3Key per
  file), ``manifest-summary.json`` and ``_started``, in the bucket of
  S3BucketOwner (else the caller). The ExportArn is
  ``arn:aws:dynamodb:<region>:<account>:table/<name>/export/<id>``; the start
  answers IN_PROGRESS and every DescribeExport after it COMPLETED with
  ExportManifest. ExportTime is honoured (the table as it was then, rebuilt
  from the change log) and must lie in the recovery window
  (``InvalidExportTimeException``); a repeated ClientToken returns the first
  export, and with other parameters answers ``ExportConflictException``.
  ``INCREMENTAL_EXPORT`` writes one record per key changed in
  (ExportFromTime, ExportToTime]: Keys, NewImage (absent: deleted) and with
  NEW_AND_OLD_IMAGES the OldImage before the window; the window must be 15
  minutes to 24 hours (``ValidationException``) and inside the recovery
  window. DescribeExport of an unknown ARN answers ``ExportNotFoundException``
  (moto's KeyError was a 500).
* A change log per table: ``Table.put_item`` and ``Table.delete_item`` (which
  PutItem, BatchWriteItem, DeleteItem, transactions and imports go through)
  and ``DynamoDBBackend.update_item`` record the item before and after, with
  the time on the account's clock. Exports read it; nothing else does.
* Point-in-time recovery (``update_continuous_backups``,
  ``describe_continuous_backups``): moto's, on the account's clock, so
  turning recovery off and on again starts EarliestRestorableDateTime anew;
  LatestRestorableDateTime is the account's now.
* ``POST /moto-api/bunker/clock`` with ``{"account", "offsetSeconds"}``: that
  account's DynamoDB time (change log, recovery window, export times) and
  its EC2 snapshot locks and image protection cooldowns run that far ahead
  of the machine's from then on, never back. Tests make export windows of 15
  minutes and more, or outlive a lock, without waiting; other accounts and
  services are not affected.
* ``DynamoHandler.scan``: ConsumedCapacity is what the page read (the items'
  size in 4 KB units, halved unless ConsistentRead; moto answered 1 for any
  page), and the answer is written with moto's DynamoDB JSON encoder
  instead of its generic model serializer, which took about a millisecond
  per item (a 5,000-item scan took seconds).

* EBS snapshot lock (``LockSnapshot``, ``UnlockSnapshot``,
  ``DescribeLockedSnapshots``, added: moto 5.2.5 has none of them). A lock
  in governance or compliance mode (with an optional cool-off of 1 to 72
  hours) for LockDuration days (1 to 36,500) or until ExpirationDate, on a
  snapshot of the caller's own; the lock's state reads ``governance``,
  ``compliance-cooloff``, ``compliance`` or ``expired``. A compliance lock
  past its cool-off can only be extended (``IncorrectState`` otherwise) and
  never unlocked; a governance lock, or one in its cool-off, may be. While a
  lock has not expired, DeleteSnapshot answers ``SnapshotLocked`` (the
  backend's ``delete_snapshot`` is patched, so every path that deletes a
  snapshot is refused). Times are the account's clock (see the clock
  endpoint below), so a test moves past a lock instead of waiting.
* AMI deregistration protection (``EnableImageDeregistrationProtection``,
  ``DisableImageDeregistrationProtection``, added): the image's
  ``DeregistrationProtection`` reads ``enabled-with-cooldown`` or
  ``enabled-without-cooldown``; disabling a protection that had the
  cooldown leaves ``disabled-until-<time>`` 24 hours ahead. While protected,
  DeregisterImage answers ``OperationNotPermitted`` (the error code is the
  launcher's choice: AWS documents the refusal, not its code).

Speed only (nothing answers differently):

* ``moto.kms.models.generate_private_key``: moto made a 2048-bit RSA key
  pair for every KMS key it created, symmetric keys included, which is most
  of CreateKey's time (a tenth of a second or more). The pair is made the
  first time it is used (Sign, Verify, GetPublicKey), which symmetric keys
  never do.
* ``moto.backends.list_of_moto_modules``: read once instead of listing and
  stat-ing moto's package folder on every request, which the server's
  dispatcher did to route each one.
* ``moto.sns.models.Subscription.private_key``: one signing key for every
  subscription instead of a new 2048-bit key for each (the signature is
  moto's own; no client checks it against a certificate).
* ``moto.core.responses.method_names_from_class``: a response class's
  method names are read once, not inspected again on every request.
* The request log (werkzeug's line per request) is left out when
  ``BUNKER_MOTO_QUIET=1``, which the Node launcher sets when nothing reads
  it; errors are still printed.
* moto's default images (``MOTO_EC2_LOAD_DEFAULT_AMIS=false`` unless set):
  every new account and Region built a few hundred public Amazon images
  that Bunker never uses; an account's first EC2 request took that long.

Patches are applied on import of this module, before the server starts.
"""

from __future__ import annotations

import base64
import copy
import datetime
import functools
import gzip
import hashlib
import json
import math
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import moto
import moto.backends
import moto.core.responses
import moto.kms.models
import moto.sns.models
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.exceptions import (
    EC2ClientError,
    InvalidAMIIdError,
    InvalidParameterDependency,
    InvalidSnapshotIdError,
    InvalidTaggableResourceType,
    MissingParameterError,
)
from moto.ec2.models import EC2Backend, ec2_backends
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.models.elastic_block_store import EBSBackend, Snapshot
from moto.ec2.models.instances import Instance
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.ec2.utils import generic_filter, random_ami_id, random_snapshot_id
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
from moto.utilities.utils import get_partition

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


# --- EC2: EBS snapshots -----------------------------------------------------
#
# moto keeps one EC2 backend per (account, region); a snapshot lives in its
# owner's backend. In AWS ``snap-`` ids are global within a Region, so the
# helpers below look an id up in the caller's backend first and then in the
# other accounts' backends of that Region, where only resources the backend's
# own account owns count: every backend also holds copies of moto's default
# Amazon AMIs and their snapshots, which are no account's to share.


def _other_ec2_backends(caller: str, region: str) -> Iterator[tuple[str, EC2Backend]]:
    """(account, backend) of every other account that already has an EC2
    backend in ``region``. Reads the dicts directly: indexing them would
    create (and populate with default AMIs) a backend per account."""
    for account, per_region in list(dict.items(ec2_backends)):
        if account == caller:
            continue
        backend = dict.get(per_region, region)
        if backend is not None:
            yield account, backend


def _caller_ec2_backend(caller: str, region: str) -> EC2Backend | None:
    """The caller's backend in ``region`` (created on first use, as moto
    does), or None for a Region moto does not know."""
    try:
        return ec2_backends[caller][region]
    except KeyError:
        return None


def _snapshot_shared_with(snapshot: Snapshot, account: str) -> bool:
    """AWS lets an account use another's snapshot when the owner added that
    account id (or the group ``all``) to its ``createVolumePermission``."""
    return (
        account in snapshot.create_volume_permission_userids
        or "all" in snapshot.create_volume_permission_groups
    )


def _shared_snapshot(caller: str, snapshot_id: str, region: str) -> tuple[Snapshot, str] | None:
    """Another account's snapshot in ``region`` shared with ``caller``, with
    its owner account; None when missing or not shared (AWS does not tell
    the two apart)."""
    for account, backend in _other_ec2_backends(caller, region):
        snapshot = backend.snapshots.get(snapshot_id)
        if snapshot is not None and snapshot.owner_id == account:
            return (snapshot, account) if _snapshot_shared_with(snapshot, caller) else None
    return None


def _source_snapshot(caller: str, snapshot_id: str, region: str) -> tuple[Snapshot, str]:
    """The snapshot ``caller`` may copy: its own in ``region``, or one shared
    with it. Returns (snapshot, owner account); raises the not-found error
    AWS gives for a missing or unshared snapshot."""
    own = _caller_ec2_backend(caller, region)
    if own is not None and snapshot_id in own.snapshots:
        return own.snapshots[snapshot_id], caller
    shared = _shared_snapshot(caller, snapshot_id, region)
    if shared is None:
        raise InvalidSnapshotIdError()
    return shared


def _kms_key_home(key_id: str, account: str, region: str) -> tuple[str, str]:
    """(account, region) of a KMS key named by ARN; a bare key id or alias
    belongs to ``account`` in ``region``, where it was used."""
    if key_id.startswith("arn:"):
        parts = key_id.split(":")
        if len(parts) >= 6:
            return parts[4], parts[3]
    return account, region


def _copy_encryption(
    destination: EC2Backend,
    source: Snapshot,
    source_account: str,
    source_region: str,
    encrypted: bool,
    kms_key_id: str | None,
) -> tuple[bool, str | None]:
    """(encrypted, key) of a copy of ``source`` made by ``destination``'s
    account in its Region, as AWS documents CopySnapshot and CopyImage:
    KmsKeyId requires Encrypted; a given key wins; a copy of an encrypted
    snapshot is always encrypted; without a key it keeps the source's key
    when that key is the copier's own in the destination Region, else the
    copier's default EBS key (``alias/aws/ebs``) is used."""
    if kms_key_id and not encrypted:
        raise InvalidParameterDependency("KmsKeyId", "Encrypted")
    if kms_key_id:
        return True, kms_key_id
    if not (encrypted or source.encrypted):
        return False, None
    if source.encrypted and source.kms_key_id:
        home = _kms_key_home(source.kms_key_id, source_account, source_region)
        if home == (destination.account_id, destination.region_name):
            return True, source.kms_key_id
    return True, destination.default_kms_key_id or destination._create_default_encryption_key()


def _new_snapshot_copy(
    destination: EC2Backend,
    source: Snapshot,
    description: str,
    encrypted: bool,
    kms_key_id: str | None,
) -> Snapshot:
    """A completed copy of ``source`` owned by ``destination``'s account."""
    copy = Snapshot(
        destination,
        random_snapshot_id(),
        volume=source.volume,
        description=description,
        encrypted=encrypted,
        kms_key_id=kms_key_id,
    )
    destination.snapshots[copy.id] = copy
    return copy


def _copy_snapshot(self: ElasticBlockStore) -> ActionResult:
    source_id = self._get_param("SourceSnapshotId")
    source_region = self._get_param("SourceRegion") or self.region
    description = self._get_param("Description")
    encrypted = self._get_bool_param("Encrypted", False)
    kms_key_id = self._get_param("KmsKeyId")
    tags = self._parse_tag_specification()

    self.error_on_dryrun()

    destination = self.ec2_backend
    source, source_account = _source_snapshot(destination.account_id, source_id, source_region)
    encrypted, kms_key_id = _copy_encryption(
        destination, source, source_account, source_region, encrypted, kms_key_id
    )
    copy = _new_snapshot_copy(
        destination,
        source,
        description or f"[Copied {source_id} from {source_region}]",
        encrypted,
        kms_key_id,
    )
    copy.add_tags(tags.get("snapshot", {}))
    return ActionResult({"SnapshotId": copy.id, "Tags": copy.tag_set})


ElasticBlockStore.copy_snapshot = _copy_snapshot  # type: ignore[method-assign]


def _restorable_by(snapshot: Snapshot, users: list[str], caller: str) -> bool:
    """DescribeSnapshots' RestorableByUserIds: ``self`` is the caller as owner
    or as an explicitly named account, ``all`` a public snapshot, an account
    id one the snapshot's createVolumePermission names."""
    for user in users:
        if user == "self":
            if snapshot.owner_id == caller or caller in snapshot.create_volume_permission_userids:
                return True
        elif user == "all":
            if "all" in snapshot.create_volume_permission_groups:
                return True
        elif user in snapshot.create_volume_permission_userids:
            return True
    return False


def _describe_snapshots(self: ElasticBlockStore) -> ActionResult:
    snapshot_ids: list[str] = self._get_param("SnapshotIds", [])
    owner_ids: list[str] = self._get_param("OwnerIds", [])
    restorable_by: list[str] = self._get_param("RestorableByUserIds", [])
    filters = self._filters_from_querystring()

    backend = self.ec2_backend
    caller = backend.account_id
    snapshots: list[Snapshot]
    if snapshot_ids:
        snapshots = []
        for snapshot_id in snapshot_ids:
            own = backend.snapshots.get(snapshot_id)
            if own is not None:
                snapshots.append(own)
                continue
            shared = _shared_snapshot(caller, snapshot_id, self.region)
            if shared is None:
                raise InvalidSnapshotIdError()
            snapshots.append(shared[0])
    else:
        snapshots = list(backend.snapshots.values())
        for account, other in _other_ec2_backends(caller, self.region):
            snapshots.extend(
                snapshot
                for snapshot in list(other.snapshots.values())
                if snapshot.owner_id == account and _snapshot_shared_with(snapshot, caller)
            )
    if owner_ids:
        owners = {caller if owner == "self" else owner for owner in owner_ids}
        snapshots = [snapshot for snapshot in snapshots if snapshot.owner_id in owners]
    if restorable_by:
        snapshots = [snapshot for snapshot in snapshots if _restorable_by(snapshot, restorable_by, caller)]
    if filters:
        snapshots = generic_filter(filters, snapshots)
    return ActionResult({"Snapshots": snapshots})


ElasticBlockStore.describe_snapshots = _describe_snapshots  # type: ignore[method-assign]


_original_modify_snapshot_attribute = ElasticBlockStore.modify_snapshot_attribute


@functools.wraps(_original_modify_snapshot_attribute)
def _modify_snapshot_attribute(self: ElasticBlockStore) -> ActionResult:
    changes = self._get_param("CreateVolumePermission") or {}
    if not changes:
        return _original_modify_snapshot_attribute(self)
    snapshot_id = self._get_param("SnapshotId")

    self.error_on_dryrun()

    for entries, apply in (
        (changes.get("Add", []), self.ec2_backend.add_create_volume_permission),
        (changes.get("Remove", []), self.ec2_backend.remove_create_volume_permission),
    ):
        if entries:
            apply(
                snapshot_id,
                user_ids=[entry["UserId"] for entry in entries if "UserId" in entry],
                groups=[entry["Group"] for entry in entries if "Group" in entry],
            )
    if self._get_param("OperationType"):
        return _original_modify_snapshot_attribute(self)
    return EmptyResult()


ElasticBlockStore.modify_snapshot_attribute = _modify_snapshot_attribute  # type: ignore[method-assign]


_original_create_snapshot = EBSBackend.create_snapshot


@functools.wraps(_original_create_snapshot)
def _create_snapshot(
    self: EBSBackend,
    volume_id: str,
    description: str,
    owner_id: str | None = None,
    from_ami: str | None = None,
) -> Snapshot:
    snapshot = _original_create_snapshot(self, volume_id, description, owner_id, from_ami)
    # A snapshot of an encrypted volume is encrypted under the volume's key.
    if snapshot.volume.encrypted and snapshot.kms_key_id is None:
        snapshot.kms_key_id = snapshot.volume.kms_key_id
    return snapshot


EBSBackend.create_snapshot = _create_snapshot  # type: ignore[method-assign]


# --- EC2: AMIs ----------------------------------------------------------------
#
# moto backs every image with one new unencrypted 15 GiB snapshot made when
# the image object is built, whatever the request said. The launcher records
# an image's block devices itself (``_Device``) and renders
# BlockDeviceMappings from them, so an image is backed by the snapshots it
# was registered, created or copied with.


@dataclass
class _Device:
    """One block device mapping of an image: an EBS volume made from
    ``snapshot`` (or an empty one of ``volume_size`` when there is none), or
    an instance store volume when ``virtual_name`` is set."""

    device_name: str
    snapshot: Snapshot | None = None
    volume_size: int | None = None
    volume_type: str = "gp2"
    delete_on_termination: bool = True
    encrypted: bool = False  # of an empty volume; a snapshot's volume has the snapshot's
    virtual_name: str | None = None

    def mapping(self) -> dict[str, Any]:
        if self.virtual_name is not None:
            return {"DeviceName": self.device_name, "VirtualName": self.virtual_name}
        ebs: dict[str, Any] = {
            "DeleteOnTermination": self.delete_on_termination,
            "VolumeSize": self.volume_size,
            "VolumeType": self.volume_type,
            "Encrypted": self.snapshot.encrypted if self.snapshot is not None else self.encrypted,
        }
        if self.snapshot is not None:
            ebs["SnapshotId"] = self.snapshot.id
        return {"DeviceName": self.device_name, "Ebs": ebs}


def _devices(image: Ami) -> list[_Device]:
    """The image's block devices: those the launcher recorded, else moto's
    single root volume from the snapshot ``Ami.__init__`` made."""
    recorded: list[_Device] | None = getattr(image, "bunker_devices", None)
    if recorded is not None:
        return recorded
    return [_Device(image.root_device_name, image.ebs_snapshot, 15, "standard", False)]


def _block_device_mappings(self: Ami) -> list[dict[str, Any]]:
    return [device.mapping() for device in _devices(self)]


Ami.block_device_mappings = property(_block_device_mappings)  # type: ignore[assignment,method-assign]


def _new_image(backend: EC2Backend, image_id: str, devices: list[_Device], **image_args: Any) -> Ami:
    """Register an image in ``backend`` backed by ``devices``."""
    image = Ami(backend, image_id, **image_args)
    # Ami.__init__ always made a new 15 GiB snapshot to back the image: drop
    # it, the devices are the image's storage.
    backend.snapshots.pop(image.ebs_snapshot.id, None)
    image.bunker_devices = devices  # type: ignore[attr-defined]
    for device in devices:
        # As in AWS, a snapshot backing a registered image cannot be deleted
        # (moto's delete_snapshot checks from_ami).
        if device.snapshot is not None and device.snapshot.from_ami is None:
            device.snapshot.from_ami = image_id
    backend.amis[image_id] = image
    return image


def _image_shared_with(image: Ami, account: str) -> bool:
    """AWS lets an account use another's image when the owner added that
    account id (or the group ``all``) to its ``launchPermission``."""
    return any(
        permission.get("UserId") == account or permission.get("Group") == "all"
        for permission in image.launch_permissions
    )


def _shared_image(caller: str, image_id: str, region: str) -> tuple[Ami, str] | None:
    """Another account's image in ``region`` shared with ``caller``, with its
    owner account; None when missing or not shared."""
    for account, backend in _other_ec2_backends(caller, region):
        image = backend.amis.get(image_id)
        if image is not None and image.owner_id == account:
            return (image, account) if _image_shared_with(image, caller) else None
    return None


def _source_image(caller: str, image_id: str, region: str) -> tuple[Ami, str]:
    """The image ``caller`` may copy: its own in ``region`` (moto's default
    images included), or one shared with it. Returns (image, owner account);
    raises ``InvalidAMIID.NotFound`` for a missing or unshared image."""
    own = _caller_ec2_backend(caller, region)
    if own is not None and image_id in own.amis:
        return own.amis[image_id], caller
    shared = _shared_image(caller, image_id, region)
    if shared is None:
        raise InvalidAMIIdError(image_id)
    return shared


def _copy_image(
    destination: EC2Backend,
    source_image_id: str,
    source_region: str,
    name: str | None,
    description: str | None,
    encrypted: bool,
    kms_key_id: str | None,
    tags: dict[str, dict[str, str]],
) -> Ami:
    caller = destination.account_id
    source, source_account = _source_image(caller, source_image_id, source_region)
    devices = _devices(source)
    if source_account != caller:
        unshared = [
            device.snapshot.id
            for device in devices
            if device.snapshot is not None and not _snapshot_shared_with(device.snapshot, caller)
        ]
        if unshared:
            raise EC2ClientError(
                "InvalidRequest",
                "You do not have permission to access the storage of this ami"
                f" ({', '.join(unshared)}: createVolumePermission does not name {caller})",
            )
    image_id = random_ami_id()
    copies: list[_Device] = []
    for device in devices:
        if device.snapshot is None:
            copies.append(replace(device))
            continue
        snapshot_encrypted, snapshot_key = _copy_encryption(
            destination, device.snapshot, source_account, source_region, encrypted, kms_key_id
        )
        snapshot = _new_snapshot_copy(
            destination,
            device.snapshot,
            f"Copied for DestinationAmi {image_id} from SourceAmi {source.id}"
            f" for SourceSnapshot {device.snapshot.id}",
            snapshot_encrypted,
            snapshot_key,
        )
        snapshot.add_tags(tags.get("snapshot", {}))
        copies.append(replace(device, snapshot=snapshot))
    image = _new_image(
        destination,
        image_id,
        copies,
        source_ami=source,
        name=name,
        description=description,
        root_device_name=source.root_device_name,
        root_device_type=source.root_device_type,
    )
    image.source_image_id = source.id  # type: ignore[attr-defined]
    image.source_image_region = source_region  # type: ignore[attr-defined]
    image.add_tags(tags.get("image", {}))
    return image


_COPY_IMAGE_LOCK = threading.Lock()


def _copy_image_response(self: AmisResponse) -> ActionResult:
    source_image_id = self._get_param("SourceImageId")
    source_region = self._get_param("SourceRegion") or self.region
    name = self._get_param("Name")
    description = self._get_param("Description")
    encrypted = self._get_bool_param("Encrypted", False)
    kms_key_id = self._get_param("KmsKeyId")
    client_token = self._get_param("ClientToken")
    tags = self._parse_tag_specification()

    self.error_on_dryrun()

    if kms_key_id and not encrypted:
        raise InvalidParameterDependency("KmsKeyId", "Encrypted")
    destination = self.ec2_backend
    request = (source_image_id, source_region)
    # One lock so that two requests with the same ClientToken make one image.
    with _COPY_IMAGE_LOCK:
        # Kept on the backend, so that moto's reset forgets the tokens too.
        tokens: dict[str, tuple[tuple[str, str], str]] = destination.__dict__.setdefault(
            "bunker_copy_image_tokens", {}
        )
        if client_token and client_token in tokens:
            earlier_request, image_id = tokens[client_token]
            if earlier_request != request:
                raise EC2ClientError(
                    "IdempotentParameterMismatch",
                    f"The client token {client_token} was already used for another request",
                )
            return ActionResult({"ImageId": image_id})
        image = _copy_image(
            destination, source_image_id, source_region, name, description, encrypted, kms_key_id, tags
        )
        if client_token:
            tokens[client_token] = (request, image.id)
    return ActionResult({"ImageId": image.id})


AmisResponse.copy_image = _copy_image_response  # type: ignore[method-assign]


def _requested_device(backend: EC2Backend, mapping: dict[str, Any]) -> _Device:
    """A RegisterImage BlockDeviceMappings entry; Ebs.SnapshotId must name one
    of the caller's snapshots in the Region."""
    device_name = mapping.get("DeviceName", "")
    ebs = mapping.get("Ebs")
    if ebs is None:
        return _Device(device_name, virtual_name=mapping.get("VirtualName", ""))
    snapshot_id = ebs.get("SnapshotId")
    snapshot = backend.get_snapshot(snapshot_id) if snapshot_id else None
    size = ebs.get("VolumeSize") or (snapshot.volume_size if snapshot is not None else None)
    if size is None:
        raise MissingParameterError("VolumeSize")
    return _Device(
        device_name,
        snapshot,
        int(size),
        ebs.get("VolumeType") or "gp2",
        bool(ebs.get("DeleteOnTermination", True)),
        bool(ebs.get("Encrypted", False)),
    )


_original_register_image = AmisResponse.register_image


@functools.wraps(_original_register_image)
def _register_image(self: AmisResponse) -> ActionResult:
    mappings: list[dict[str, Any]] = self._get_param("BlockDeviceMappings", [])
    tags = self._parse_tag_specification()

    self.error_on_dryrun()

    backend = self.ec2_backend
    devices = [_requested_device(backend, mapping) for mapping in mappings if "NoDevice" not in mapping]
    if devices:
        image = _new_image(
            backend,
            random_ami_id(),
            devices,
            name=self._get_param("Name"),
            description=self._get_param("Description", ""),
            architecture=self._get_param("Architecture"),
            virtualization_type=self._get_param("VirtualizationType"),
            root_device_name=self._get_param("RootDeviceName") or devices[0].device_name,
            root_device_type="ebs",
        )
        image_id = image.id
    else:
        result = _original_register_image(self)
        image_id = result.result["ImageId"]  # type: ignore[index]
        image = backend.amis[image_id]
    image.add_tags(tags.get("image", {}))
    return ActionResult({"ImageId": image_id})


AmisResponse.register_image = _register_image  # type: ignore[method-assign]


_original_create_image = AmiBackend.create_image


@functools.wraps(_original_create_image)
def _create_image(
    self: EC2Backend,
    instance_id: str,
    name: str,
    description: str,
    tag_specifications: list[dict[str, Any]],
) -> Ami:
    instance = self.get_instance(instance_id)
    attached = instance.get_block_device_mapping
    if not attached:
        return _original_create_image(self, instance_id, name, description, tag_specifications)
    tags: dict[str, dict[str, str]] = {"image": {}, "snapshot": {}}
    for specification in tag_specifications:
        resource_type = specification["ResourceType"]
        if resource_type not in tags:
            raise InvalidTaggableResourceType(resource_type)
        tags[resource_type].update({tag["Key"]: tag["Value"] for tag in specification.get("Tags", [])})
    image_id = random_ami_id()
    devices: list[_Device] = []
    for device_name, block in attached:
        volume = self.get_volume(block.volume_id)
        # The patched create_snapshot: encrypted volumes keep their key.
        snapshot = self.create_snapshot(volume.id, f"Created by CreateImage({instance_id}) for {image_id}")
        snapshot.add_tags(tags["snapshot"])
        devices.append(
            _Device(device_name, snapshot, volume.size, volume.volume_type, bool(block.delete_on_termination))
        )
    image = _new_image(
        self,
        image_id,
        devices,
        instance=instance,
        name=name,
        description=description,
        root_device_name=instance.root_device_name,
        root_device_type="ebs",
    )
    image.add_tags(tags["image"])
    return image


AmiBackend.create_image = _create_image  # type: ignore[method-assign,assignment]


_original_describe_images = AmisResponse.describe_images


@functools.wraps(_original_describe_images)
def _describe_images(self: AmisResponse) -> ActionResult:
    image_ids: list[str] = self._get_param("ImageIds", [])
    backend = self.ec2_backend
    caller = backend.account_id
    if image_ids:
        if not all(image_id.startswith("ami-") for image_id in image_ids):
            return _original_describe_images(self)  # moto's InvalidAMIID.Malformed
        foreign = [
            image_id
            for image_id in image_ids
            if image_id not in backend.amis and image_id not in backend.deleted_amis
        ]
        if not foreign:
            return _original_describe_images(self)
        shared: dict[str, Ami] = {}
        for image_id in foreign:
            found = _shared_image(caller, image_id, self.region)
            if found is not None:
                shared[image_id] = found[0]
        missing = [image_id for image_id in foreign if image_id not in shared]
        if missing:
            raise InvalidAMIIdError(missing)
        self.error_on_dryrun()
        own_ids = [image_id for image_id in image_ids if image_id not in shared]
        images = backend.describe_images(ami_ids=own_ids) if own_ids else []
        return ActionResult({"Images": [*images, *shared.values()]})

    result = _original_describe_images(self)
    extra = [
        image
        for account, other in _other_ec2_backends(caller, self.region)
        for image in list(other.amis.values())
        if image.owner_id == account and _image_shared_with(image, caller)
    ]
    executable_users: list[str] = self._get_param("ExecutableUsers", [])
    if executable_users:
        users = {caller if user == "self" else user for user in executable_users}
        extra = [
            image
            for image in extra
            if ("all" in users and image.is_public)
            or any(permission.get("UserId") in users for permission in image.launch_permissions)
        ]
    owners: list[str] = self._get_param("Owners", [])
    if owners:
        wanted = {caller if owner == "self" else owner for owner in owners}
        extra = [image for image in extra if image.owner_id in wanted or image.owner_alias in wanted]
    filters = self._filters_from_querystring()
    if filters:
        extra = generic_filter(filters, extra)
    result.result["Images"].extend(extra)  # type: ignore[index]
    return result


AmisResponse.describe_images = _describe_images  # type: ignore[method-assign]


_original_describe_image_attribute = AmiBackend.describe_image_attribute


@functools.wraps(_original_describe_image_attribute)
def _describe_image_attribute(self: AmiBackend, ami_id: str, attribute_name: str) -> Any:
    # moto indexes its dict directly: an unknown id was a KeyError, answered
    # as an internal server error that SDKs retry.
    if ami_id not in self.amis:
        raise InvalidAMIIdError(ami_id)
    return _original_describe_image_attribute(self, ami_id, attribute_name)


AmiBackend.describe_image_attribute = _describe_image_attribute  # type: ignore[method-assign]


# --- EC2: restores (CreateVolume from a snapshot, RunInstances of an image) --
#
# Restore drills make a volume from a copy and launch an instance of an
# image copy, then read back which key encrypts what they made. moto gave a
# volume made from an encrypted snapshot no key, and backed every instance
# with one new unencrypted 8 GiB volume at /dev/sda1 whatever its image.

_original_create_volume = EBSBackend.create_volume


@functools.wraps(_original_create_volume)
def _create_volume(self: EBSBackend, size: int, zone_name: str, snapshot_id: str | None = None, **kwargs: Any) -> Any:
    # AWS: a volume made from an encrypted snapshot without a KmsKeyId is
    # under the snapshot's key (moto answered Encrypted with no key at all).
    if snapshot_id and not kwargs.get("kms_key_id"):
        snapshot = self.get_snapshot(snapshot_id)
        if snapshot.encrypted and snapshot.kms_key_id:
            kwargs["encrypted"] = True
            kwargs["kms_key_id"] = snapshot.kms_key_id
    return _original_create_volume(self, size, zone_name, snapshot_id, **kwargs)


EBSBackend.create_volume = _create_volume  # type: ignore[method-assign]

_original_setup_defaults = Instance.setup_defaults


def _setup_defaults(self: Instance) -> None:
    """An instance's volumes are its image's block devices: each made from
    the device's snapshot (so under that snapshot's key) at the image's
    device name, deleted on termination as the image says. Images the
    launcher did not record keep moto's default root volume."""
    image = self.ec2_backend.amis.get(self.image_id)
    devices: list[_Device] | None = getattr(image, "bunker_devices", None) if image is not None else None
    if not devices:
        _original_setup_defaults(self)
        return
    for device in devices:
        if device.virtual_name is not None:
            continue
        snapshot = device.snapshot
        self.add_block_device(
            device.volume_size or (snapshot.volume.size if snapshot is not None else 8),
            device.device_name,
            snapshot.id if snapshot is not None else None,
            snapshot.encrypted if snapshot is not None else device.encrypted,
            device.delete_on_termination,
            snapshot.kms_key_id if snapshot is not None else None,
            device.volume_type,
        )


Instance.setup_defaults = _setup_defaults  # type: ignore[method-assign]


# --- EC2: snapshot locks and image deregistration protection ---------------
#
# moto 5.2.5 has neither: Bunker locks its EBS copies and protects its AMI
# copies, and the emulator tests read the lock back and try to delete. The
# lock is kept on the snapshot object (``bunker_lock``), the protection on
# the image (``deregistration_protection``, the name the EC2 model
# serializes as ``DeregistrationProtection``).

_MAX_LOCK_DAYS = 36_500


def _utcnow(account: str) -> datetime.datetime:
    """The account's clock (``POST /moto-api/bunker/clock``), so a test of
    retention can move past a lock without waiting for it."""
    return datetime.datetime.fromtimestamp(_account_now(account), datetime.timezone.utc)


@dataclass(frozen=True)
class _SnapshotLock:
    mode: str
    created: datetime.datetime
    expires: datetime.datetime
    duration_days: int | None
    cool_off_hours: int | None

    def cool_off_ends(self) -> datetime.datetime | None:
        return self.created + datetime.timedelta(hours=self.cool_off_hours) if self.cool_off_hours else None

    def state(self, now: datetime.datetime) -> str:
        if now >= self.expires:
            return "expired"
        if self.mode == "governance":
            return "governance"
        ends = self.cool_off_ends()
        return "compliance-cooloff" if ends is not None and now < ends else "compliance"

    def info(self, snapshot: Snapshot, now: datetime.datetime) -> dict[str, Any]:
        info: dict[str, Any] = {
            "OwnerId": snapshot.owner_id,
            "SnapshotId": snapshot.id,
            "LockState": self.state(now),
            "LockCreatedOn": self.created,
            "LockDurationStartTime": self.created,
            "LockExpiresOn": self.expires,
        }
        if self.duration_days is not None:
            info["LockDuration"] = self.duration_days
        if self.cool_off_hours:
            info["CoolOffPeriod"] = self.cool_off_hours
            info["CoolOffPeriodExpiresOn"] = self.cool_off_ends()
        return info


def _own_snapshot(backend: EC2Backend, snapshot_id: str) -> Snapshot:
    snapshot = backend.snapshots.get(snapshot_id)
    if snapshot is None:
        raise InvalidSnapshotIdError()
    return snapshot


def _live_lock(snapshot: Snapshot, now: datetime.datetime) -> _SnapshotLock | None:
    lock: _SnapshotLock | None = getattr(snapshot, "bunker_lock", None)
    return lock if lock is not None and lock.state(now) != "expired" else None


def _lock_snapshot(self: ElasticBlockStore) -> ActionResult:
    snapshot_id = self._get_param("SnapshotId")
    mode = self._get_param("LockMode")
    cool_off = self._get_int_param("CoolOffPeriod")
    duration = self._get_int_param("LockDuration")
    expiration = self._get_param("ExpirationDate")
    self.error_on_dryrun()

    snapshot = _own_snapshot(self.ec2_backend, snapshot_id)
    if mode not in ("governance", "compliance"):
        raise EC2ClientError("InvalidParameterValue", f"LockMode must be governance or compliance, not {mode}")
    if (duration is None) == (expiration is None):
        raise EC2ClientError("InvalidParameterCombination", "Specify exactly one of LockDuration and ExpirationDate")
    if cool_off is not None and (mode != "compliance" or not 1 <= cool_off <= 72):
        raise EC2ClientError("InvalidParameterValue", "CoolOffPeriod is 1 to 72 hours, in compliance mode only")
    now = _utcnow(self.ec2_backend.account_id)
    if duration is not None:
        if not 1 <= duration <= _MAX_LOCK_DAYS:
            raise EC2ClientError("InvalidParameterValue", f"LockDuration is 1 to {_MAX_LOCK_DAYS} days")
        expires = now + datetime.timedelta(days=duration)
    else:
        expires = datetime.datetime.fromisoformat(str(expiration).replace("Z", "+00:00"))
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=datetime.timezone.utc)
        if expires <= now:
            raise EC2ClientError("InvalidParameterValue", "ExpirationDate must be in the future")
    current = _live_lock(snapshot, now)
    if current is not None and current.state(now) == "compliance":
        # Past its cool-off a compliance lock only grows: longer, same mode.
        if mode != "compliance" or expires < current.expires:
            raise EC2ClientError(
                "IncorrectState",
                f"The snapshot {snapshot_id} is locked in compliance mode until "
                f"{current.expires.isoformat()}: the lock can only be extended",
            )
        cool_off = None
    lock = _SnapshotLock(mode, now, expires, duration, cool_off)
    snapshot.bunker_lock = lock  # type: ignore[attr-defined]
    info = lock.info(snapshot, now)
    info.pop("OwnerId")
    return ActionResult(info)


def _unlock_snapshot(self: ElasticBlockStore) -> ActionResult:
    snapshot_id = self._get_param("SnapshotId")
    self.error_on_dryrun()
    snapshot = _own_snapshot(self.ec2_backend, snapshot_id)
    now = _utcnow(self.ec2_backend.account_id)
    lock = _live_lock(snapshot, now)
    if lock is not None and lock.state(now) == "compliance":
        raise EC2ClientError(
            "IncorrectState", f"The snapshot {snapshot_id} is locked in compliance mode and cannot be unlocked"
        )
    snapshot.bunker_lock = None  # type: ignore[attr-defined]
    return ActionResult({"SnapshotId": snapshot_id})


def _describe_locked_snapshots(self: ElasticBlockStore) -> ActionResult:
    snapshot_ids: list[str] = self._get_param("SnapshotIds", [])
    self.error_on_dryrun()
    backend = self.ec2_backend
    snapshots = [_own_snapshot(backend, i) for i in snapshot_ids] if snapshot_ids else list(backend.snapshots.values())
    now = _utcnow(backend.account_id)
    infos = [
        lock.info(snapshot, now)
        for snapshot in snapshots
        if (lock := getattr(snapshot, "bunker_lock", None)) is not None
    ]
    return ActionResult({"Snapshots": infos})


ElasticBlockStore.lock_snapshot = _lock_snapshot  # type: ignore[attr-defined]
ElasticBlockStore.unlock_snapshot = _unlock_snapshot  # type: ignore[attr-defined]
ElasticBlockStore.describe_locked_snapshots = _describe_locked_snapshots  # type: ignore[attr-defined]

_original_delete_snapshot = EBSBackend.delete_snapshot


@functools.wraps(_original_delete_snapshot)
def _delete_snapshot(self: EBSBackend, snapshot_id: str) -> Snapshot:
    snapshot = self.snapshots.get(snapshot_id)
    lock = _live_lock(snapshot, _utcnow(self.account_id)) if snapshot is not None else None
    if lock is not None:
        raise EC2ClientError(
            "SnapshotLocked",
            f"The snapshot {snapshot_id} is locked ({lock.mode}) until {lock.expires.isoformat()} and cannot be deleted",
        )
    return _original_delete_snapshot(self, snapshot_id)


EBSBackend.delete_snapshot = _delete_snapshot  # type: ignore[method-assign]


def _own_image(backend: EC2Backend, image_id: str) -> Ami:
    image = backend.amis.get(image_id)
    if image is None or image.owner_id != backend.account_id:
        raise InvalidAMIIdError(image_id)
    return image


def _image_protected(image: Ami, now: datetime.datetime) -> bool:
    state: str = getattr(image, "deregistration_protection", None) or "disabled"
    if state.startswith("enabled"):
        return True
    if state.startswith("disabled-until-"):
        return now < datetime.datetime.fromisoformat(state.removeprefix("disabled-until-"))
    return False


def _enable_image_deregistration_protection(self: AmisResponse) -> ActionResult:
    image_id = self._get_param("ImageId")
    with_cooldown = self._get_bool_param("WithCooldown", False)
    self.error_on_dryrun()
    image = _own_image(self.ec2_backend, image_id)
    image.deregistration_protection = (  # type: ignore[attr-defined]
        "enabled-with-cooldown" if with_cooldown else "enabled-without-cooldown"
    )
    return ActionResult({"Return": "true"})


def _disable_image_deregistration_protection(self: AmisResponse) -> ActionResult:
    image_id = self._get_param("ImageId")
    self.error_on_dryrun()
    image = _own_image(self.ec2_backend, image_id)
    state = getattr(image, "deregistration_protection", None) or "disabled"
    if state == "enabled-with-cooldown":
        until = (_utcnow(self.ec2_backend.account_id) + datetime.timedelta(hours=24)).isoformat()
        image.deregistration_protection = f"disabled-until-{until}"  # type: ignore[attr-defined]
    elif state == "enabled-without-cooldown":
        image.deregistration_protection = "disabled"  # type: ignore[attr-defined]
    return ActionResult({"Return": "true"})


AmisResponse.enable_image_deregistration_protection = _enable_image_deregistration_protection  # type: ignore[attr-defined]
AmisResponse.disable_image_deregistration_protection = _disable_image_deregistration_protection  # type: ignore[attr-defined]

_original_deregister_image = AmiBackend.deregister_image


@functools.wraps(_original_deregister_image)
def _deregister_image(self: AmiBackend, ami_id: str) -> None:
    image = self.amis.get(ami_id)
    if image is not None and _image_protected(image, _utcnow(self.account_id)):
        raise EC2ClientError(
            "OperationNotPermitted",
            f"The image {ami_id} has deregistration protection enabled and cannot be deregistered",
        )
    _original_deregister_image(self, ami_id)


AmiBackend.deregister_image = _deregister_image  # type: ignore[method-assign]


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

import engine_listeners  # noqa: E402, F401  (tools/moto/engine_listeners.py: restored RDS databases answer their engine's greeting)
import instance_status  # noqa: E402, F401  (tools/moto/instance_status.py: EC2 status checks that take time or fail, by tag)



# --- DynamoDB: exports, the change log, point-in-time recovery, capacity -----
#
# moto's ExportTableToPointInTime writes one data file of the table as it is
# now, at a random key, with a malformed ExportArn, no manifests and no
# incremental export. Bunker's pull reads an export the way AWS writes it,
# so the launcher writes it that way (see the module docstring).


def _dynamodb() -> Any:
    from moto.dynamodb import models as dynamodb_models

    return dynamodb_models


# Seconds each account's clock runs ahead of the machine's: tests move a
# source account's time forward (POST /moto-api/bunker/clock) to make
# export windows of 15 minutes and more without waiting for them.
_CLOCK_OFFSETS: dict[str, float] = {}


def _account_now(account: str) -> float:
    return time.time() + _CLOCK_OFFSETS.get(account, 0.0)


def _set_clock(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    """``POST /moto-api/bunker/clock`` with ``{"account": "...", "offsetSeconds": 3600}``:
    the account's DynamoDB time (change log, point-in-time recovery,
    exports) runs that far ahead of the machine's clock from now on."""
    if request.method != "POST":
        return 400, {}, json.dumps({"Error": "POST {account, offsetSeconds}"})
    body = json.loads(request.get_data() or b"{}")
    account = str(body.get("account", ""))
    offset = float(body.get("offsetSeconds", 0))
    if not account or offset < _CLOCK_OFFSETS.get(account, 0.0):
        return 400, {}, json.dumps({"Error": "an account is required, and its clock never goes back"})
    _CLOCK_OFFSETS[account] = offset
    return 200, {}, json.dumps({"account": account, "offsetSeconds": offset, "now": _account_now(account)})


def _register_clock_endpoint() -> None:
    from moto.moto_api._internal import urls as moto_api_urls

    moto_api_urls.url_paths["{0}/moto-api/bunker/clock"] = _set_clock


@dataclass
class _Change:
    at: float
    keys: dict[str, Any]
    new_image: dict[str, Any] | None
    old_image: dict[str, Any] | None


def _changes(table: Any) -> list[_Change]:
    log = getattr(table, "_bunker_changes", None)
    if log is None:
        log = []
        table._bunker_changes = log
    return log


def _keys_of(table: Any, image: dict[str, Any]) -> dict[str, Any]:
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    return {name: image[name] for name in names if name in image}


def _image(item: Any) -> dict[str, Any] | None:
    return None if item is None else copy.deepcopy(item.to_json()["Attributes"])


def _record_change(table: Any, old: Any, new: Any) -> None:
    old_image, new_image = _image(old), _image(new)
    keys = _keys_of(table, new_image or old_image or {})
    _changes(table).append(_Change(_account_now(table.account_id), keys, new_image, old_image))


def _record_table_changes() -> None:
    models = _dynamodb()
    table_cls = models.Table
    original_put = table_cls.put_item
    original_delete = table_cls.delete_item

    @functools.wraps(original_put)
    def put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        with _DYNAMODB_WRITE_LOCK:
            hash_value = models.DynamoType(item_attrs[self.hash_key_attr]) if self.hash_key_attr in item_attrs else None
            range_value = (
                models.DynamoType(item_attrs[self.range_key_attr])
                if self.range_key_attr and self.range_key_attr in item_attrs
                else None
            )
            old = None
            if hash_value is not None and (range_value is not None or not self.range_key_attr):
                old = copy.deepcopy(self.get_item(hash_value, range_value))
            item = original_put(self, item_attrs, *args, **kwargs)
            _record_change(self, old, item)
            return item

    @functools.wraps(original_delete)
    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        with _DYNAMODB_WRITE_LOCK:
            item = original_delete(self, hash_key, range_key)
            if item is not None:
                _record_change(self, item, None)
            return item

    table_cls.put_item = put_item
    table_cls.delete_item = delete_item

    backend_cls = models.DynamoDBBackend
    original_update = backend_cls.update_item

    @functools.wraps(original_update)
    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        # The update changes the stored item in place: the image before is copied first.
        with _DYNAMODB_WRITE_LOCK:
            table = self.get_table(table_name)
            hash_value, range_value = self.get_keys_value(table, key)
            old = copy.deepcopy(table.get_item(hash_value, range_value))
            item = original_update(self, table_name, key, *args, **kwargs)
            _record_change(table, old, item)
            return item

    backend_cls.update_item = update_item


def _pitr(table: Any) -> dict[str, Any]:
    return table.continuous_backups["PointInTimeRecoveryDescription"]


def _update_continuous_backups(self: Any, table_name: str, point_in_time_spec: dict[str, Any]) -> dict[str, Any]:
    """moto's, with the table account's clock: turning recovery on starts
    its window now (EarliestRestorableDateTime), so off and on again leaves
    a gap no export can reach into, as in AWS."""
    models = _dynamodb()
    try:
        table = self.get_table(table_name)
    except models.ResourceNotFoundException:
        raise models.TableNotFoundException(table_name) from None
    now = _account_now(table.account_id)
    if point_in_time_spec["PointInTimeRecoveryEnabled"]:
        if _pitr(table)["PointInTimeRecoveryStatus"] == "DISABLED":
            table.continuous_backups["PointInTimeRecoveryDescription"] = {
                "PointInTimeRecoveryStatus": "ENABLED",
                "EarliestRestorableDateTime": now,
                "LatestRestorableDateTime": now,
                "RecoveryPeriodInDays": 35,
            }
        if "RecoveryPeriodInDays" in point_in_time_spec:
            _pitr(table)["RecoveryPeriodInDays"] = point_in_time_spec["RecoveryPeriodInDays"]
    else:
        table.continuous_backups["PointInTimeRecoveryDescription"] = {"PointInTimeRecoveryStatus": "DISABLED"}
    return table.continuous_backups


def _describe_continuous_backups(self: Any, table_name: str) -> dict[str, Any]:
    """moto's, with LatestRestorableDateTime at the account's now and the
    window's start no older than its recovery period."""
    models = _dynamodb()
    try:
        table = self.get_table(table_name)
    except models.ResourceNotFoundException:
        raise models.TableNotFoundException(table_name) from None
    pitr = _pitr(table)
    if pitr["PointInTimeRecoveryStatus"] == "ENABLED":
        now = _account_now(table.account_id)
        pitr["LatestRestorableDateTime"] = now
        period = float(pitr.get("RecoveryPeriodInDays", 35)) * 86400
        pitr["EarliestRestorableDateTime"] = max(pitr["EarliestRestorableDateTime"], now - period)
    return table.continuous_backups


def _validation(message: str) -> Exception:
    from moto.dynamodb.exceptions import MockValidationException

    return MockValidationException(message)


class _ExportError(JsonRESTError):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(error_type, message)


def _state_at(table: Any, at: float) -> list[dict[str, Any]]:
    """The table's items as they were at ``at``: today's, with every later
    change undone from the change log (newest first)."""
    key_names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])

    def key_text(image: dict[str, Any]) -> str:
        return _json_line([image.get(name) for name in key_names], sort_keys=True)

    state = {key_text(image): image for image in (_image(item) for item in table.all_items()) if image}
    for change in reversed(_changes(table)):
        if change.at <= at:
            break
        if change.old_image is None:
            state.pop(key_text(change.keys), None)
        else:
            state[key_text(change.keys)] = change.old_image
    return list(state.values())


def _incremental_records(table: Any, start: float, end: float, view: str) -> list[dict[str, Any]]:
    """One record per key changed in (start, end], as AWS's incremental
    export writes it: Keys, the image after the window (none: deleted) and,
    with NEW_AND_OLD_IMAGES, the image before it."""
    by_key: dict[str, list[_Change]] = {}
    for change in _changes(table):
        if start < change.at <= end:
            by_key.setdefault(_json_line(change.keys, sort_keys=True), []).append(change)
    records = []
    for changes in by_key.values():
        first, last = changes[0], changes[-1]
        record: dict[str, Any] = {
            "Metadata": {"WriteTimestampMicros": {"N": str(int(last.at * 1_000_000))}},
            "Keys": last.keys,
        }
        if last.new_image is not None:
            record["NewImage"] = last.new_image
        if view == "NEW_AND_OLD_IMAGES" and first.old_image is not None:
            record["OldImage"] = first.old_image
        records.append(record)
    return records


_EXPORT_LINES_PER_FILE = 1000


class _BunkerExport:
    """A finished export: its files are written when it starts; it reads
    IN_PROGRESS in the start's answer and COMPLETED from then on."""

    def __init__(self, table: Any, request: dict[str, Any], account: str, region: str, s3_owner: str) -> None:
        self.table = table
        self.request = request
        self.export_type = request.get("ExportType") or "FULL_EXPORT"
        self.export_format = request.get("ExportFormat") or "DYNAMODB_JSON"
        self.client_token = request.get("ClientToken")
        now = _account_now(account)
        self.start_time = now
        self.export_id = f"{int(now * 1000):013d}-{uuid.uuid4().hex[:8]}"
        self.arn = f"{table.table_arn}/export/{self.export_id}"
        self.status = "IN_PROGRESS"
        self.s3_bucket = request["S3Bucket"]
        self.s3_owner = s3_owner
        self.s3_prefix = request.get("S3Prefix") or ""
        self.base = f"{self.s3_prefix}/AWSDynamoDB/{self.export_id}" if self.s3_prefix else f"AWSDynamoDB/{self.export_id}"
        self.failure_code: str | None = None
        self.failure_message: str | None = None
        self.item_count = 0
        self.billed_bytes = 0
        self.export_time = _epoch(request["ExportTime"]) if request.get("ExportTime") is not None else now
        self.incremental = request.get("IncrementalExportSpecification") or {}
        self.region = region
        self.described = False

    def write(self) -> None:
        from moto.s3.models import s3_backends

        try:
            s3 = s3_backends[self.s3_owner][get_partition(self.region)]
            s3.get_bucket(self.s3_bucket)
        except Exception:
            self.status, self.failure_code = "FAILED", "S3NoSuchBucket"
            self.failure_message = "The specified bucket does not exist"
            return
        if self.export_type == "FULL_EXPORT":
            lines = [{"Item": image} for image in _state_at(self.table, self.export_time)]
        else:
            lines = _incremental_records(
                self.table,
                _epoch(self.incremental["ExportFromTime"]),
                _epoch(self.incremental["ExportToTime"]),
                self.incremental.get("ExportViewType") or "NEW_AND_OLD_IMAGES",
            )
        entries = []
        chunks = [lines[i : i + _EXPORT_LINES_PER_FILE] for i in range(0, len(lines), _EXPORT_LINES_PER_FILE)] or [[]]
        for chunk in chunks:
            text = "".join(_json_line(line) + "\n" for line in chunk)
            body = gzip.compress(text.encode("utf-8"), mtime=0)
            key = f"{self.base}/data/{uuid.uuid4().hex[:26]}.json.gz"
            s3.put_object(bucket_name=self.s3_bucket, key_name=key, value=body)
            entries.append(
                {
                    "itemCount": len(chunk),
                    "md5Checksum": base64.b64encode(hashlib.md5(body).digest()).decode(),
                    "etag": hashlib.md5(body).hexdigest(),
                    "dataFileS3Key": key,
                }
            )
            self.billed_bytes += len(text)
        self.item_count = len(lines)
        files_key = f"{self.base}/manifest-files.json"
        s3.put_object(
            bucket_name=self.s3_bucket,
            key_name=files_key,
            value="".join(json.dumps(entry) + "\n" for entry in entries).encode(),
        )
        summary = {
            "version": "2023-08-01" if self.export_type == "INCREMENTAL_EXPORT" else "2020-06-30",
            "exportArn": self.arn,
            "startTime": _iso(self.start_time),
            "endTime": _iso(self.start_time),
            "tableArn": self.table.table_arn,
            "tableId": _table_id(self.table),
            "exportTime": _iso(self.export_time),
            "s3Bucket": self.s3_bucket,
            "s3Prefix": self.s3_prefix,
            "s3SseAlgorithm": "AES256",
            "s3SseKmsKeyId": None,
            "manifestFilesS3Key": files_key,
            "billedSizeBytes": self.billed_bytes,
            "itemCount": self.item_count,
            "outputFormat": self.export_format,
            "exportType": self.export_type,
        }
        s3.put_object(
            bucket_name=self.s3_bucket,
            key_name=f"{self.base}/manifest-summary.json",
            value=json.dumps(summary).encode(),
        )
        s3.put_object(bucket_name=self.s3_bucket, key_name=f"{self.base}/_started", value=b"")

    def response(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "ExportArn": self.arn,
            "ExportStatus": self.status,
            "StartTime": self.start_time,
            "TableArn": self.table.table_arn,
            "TableId": _table_id(self.table),
            "ClientToken": self.client_token,
            "S3Bucket": self.s3_bucket,
            "S3BucketOwner": self.s3_owner,
            "S3Prefix": self.s3_prefix,
            "S3SseAlgorithm": "AES256",
            "ExportFormat": self.export_format,
            "ExportType": self.export_type,
            "ItemCount": self.item_count,
            "BilledSizeBytes": self.billed_bytes,
        }
        if self.export_type == "FULL_EXPORT":
            answer["ExportTime"] = self.export_time
        else:
            answer["IncrementalExportSpecification"] = self.incremental
        if self.status == "COMPLETED":
            answer["EndTime"] = self.start_time
            answer["ExportManifest"] = f"{self.base}/manifest-summary.json"
        if self.failure_code:
            answer["FailureCode"] = self.failure_code
            answer["FailureMessage"] = self.failure_message
        return answer


def _json_line(value: Any, sort_keys: bool = False) -> str:
    """DynamoDB JSON as export files hold it: binary values in base64."""
    from moto.dynamodb.models.utilities import DynamoJsonEncoder

    return json.dumps(value, cls=DynamoJsonEncoder, separators=(",", ":"), sort_keys=sort_keys)


def _epoch(value: Any) -> float:
    """A request's timestamp in epoch seconds: moto parses them to datetimes."""
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    return float(value)


def _table_id(table: Any) -> str:
    """moto keeps no TableId: a stable one derived from the ARN."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, table.table_arn))


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _same_request(a: dict[str, Any], b: dict[str, Any]) -> bool:
    fields = ("TableArn", "S3Bucket", "S3Prefix", "ExportType", "ExportTime", "IncrementalExportSpecification")
    return all(a.get(name) == b.get(name) for name in fields)


def _check_export_window(table: Any, request: dict[str, Any]) -> None:
    """AWS's checks of an export's times against the account's clock and
    the table's recovery window."""
    pitr = _pitr(table)
    if pitr["PointInTimeRecoveryStatus"] != "ENABLED":
        raise _dynamodb().PointInTimeRecoveryUnavailable(name=table.name)
    now = _account_now(table.account_id)
    earliest = _epoch(pitr["EarliestRestorableDateTime"])
    if (request.get("ExportType") or "FULL_EXPORT") == "FULL_EXPORT":
        at = _epoch(request["ExportTime"]) if request.get("ExportTime") is not None else now
        if at < earliest or at > now:
            raise _ExportError(
                "InvalidExportTimeException",
                f"Export time {_iso(at)} is outside the point-in-time recovery window ({_iso(earliest)} to {_iso(now)})",
            )
        return
    spec = request.get("IncrementalExportSpecification") or {}
    if spec.get("ExportFromTime") is None or spec.get("ExportToTime") is None:
        raise _validation("IncrementalExportSpecification needs ExportFromTime and ExportToTime")
    start, end = _epoch(spec["ExportFromTime"]), _epoch(spec["ExportToTime"])
    if end - start < 15 * 60 or end - start > 24 * 3600:
        raise _validation("The incremental export window must be between 15 minutes and 24 hours")
    if start < earliest or end > now:
        raise _ExportError(
            "InvalidExportTimeException",
            f"The export window {_iso(start)} to {_iso(end)} is outside the point-in-time recovery window "
            f"({_iso(earliest)} to {_iso(now)})",
        )


def _export_table_to_point_in_time(self: Any) -> ActionResult:
    backend = self.dynamodb_backend
    request = dict(self.body)
    table_arn = request["TableArn"]
    table = next((t for t in backend.tables.values() if t.table_arn == table_arn), None)
    if table is None:
        raise _dynamodb().TableNotFoundException(name=table_arn)
    token = request.get("ClientToken")
    if token:
        for known in backend.table_exports.values():
            if isinstance(known, _BunkerExport) and known.client_token == token:
                if not _same_request(known.request, request):
                    raise _ExportError(
                        "ExportConflictException",
                        "A request with this ClientToken was made with other parameters",
                    )
                return ActionResult({"ExportDescription": known.response()})
    _check_export_window(table, request)
    export = _BunkerExport(
        table, request, backend.account_id, backend.region_name, request.get("S3BucketOwner") or backend.account_id
    )
    with _DYNAMODB_WRITE_LOCK:
        export.write()
    backend.table_exports[export.arn] = export
    answer = export.response()
    if export.status == "IN_PROGRESS":
        export.status = "COMPLETED"
    return ActionResult({"ExportDescription": answer})


def _describe_export(self: Any) -> ActionResult:
    arn = self.body["ExportArn"]
    export = self.dynamodb_backend.table_exports.get(arn)
    if export is None:
        raise _ExportError("ExportNotFoundException", f"Export not found: {arn}")
    return ActionResult({"ExportDescription": export.response()})


def _scan_consumed_capacity(original: Any) -> Any:
    """Scan's ConsumedCapacity from what the page read, as AWS counts it:
    the items' total size in 4 KB units, halved for an eventually consistent
    read (moto answers 1 unit for any page). The answer is written with
    moto's DynamoDB JSON encoder (binary as base64, as the wire format
    wants) instead of its generic model serializer, which spends about a
    millisecond per item: a scan of 5,000 items took seconds."""
    from moto.dynamodb.models.utilities import DynamoJsonEncoder

    @functools.wraps(original)
    def scan(self: Any) -> ActionResult | str:
        result = original(self)
        if not isinstance(result, ActionResult):
            return result
        body = result.result
        if isinstance(body, dict) and "ConsumedCapacity" in body:
            models = _dynamodb()
            size = sum(
                sum(len(name.encode()) + models.DynamoType(value).size() for name, value in item.items())
                for item in body.get("Items", [])
            )
            units = max(1, math.ceil(size / 4096)) * (1.0 if self.body.get("ConsistentRead") else 0.5)
            body["ConsumedCapacity"]["CapacityUnits"] = units
            if "Table" in body["ConsumedCapacity"]:
                body["ConsumedCapacity"]["Table"] = {"CapacityUnits": units}
        return json.dumps(body, cls=DynamoJsonEncoder)

    return scan


def _patch_dynamodb_exports() -> None:
    from moto.dynamodb.responses import DynamoHandler

    models = _dynamodb()
    _record_table_changes()
    models.DynamoDBBackend.update_continuous_backups = _update_continuous_backups
    models.DynamoDBBackend.describe_continuous_backups = _describe_continuous_backups
    DynamoHandler.export_table_to_point_in_time = _export_table_to_point_in_time
    DynamoHandler.describe_export = _describe_export
    DynamoHandler.scan = _scan_consumed_capacity(DynamoHandler.scan)
    _register_clock_endpoint()


_patch_dynamodb_exports()


# --- Speed only: nothing answers differently (see the module's docstring) ---


class _LazyPrivateKey:
    """A KMS key's signing key pair, made on first use: moto made one for
    every key, symmetric ones too, at a tenth of a second or more each."""

    def __init__(self, key_spec: str, make: Any) -> None:
        self._key_spec = key_spec
        self._make = make
        self._made: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        with self._lock:
            if self._made is None:
                self._made = self._make(self._key_spec)
        return getattr(self._made, name)


def _lazy_private_keys() -> None:
    make = moto.kms.models.generate_private_key
    moto.kms.models.generate_private_key = lambda key_spec: _LazyPrivateKey(key_spec, make)


def _cached_module_list() -> None:
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules


_SNS_SIGNING_KEY: list[Any] = []
_SNS_SIGNING_KEY_LOCK = threading.Lock()


def _shared_sns_signing_key(self: Any) -> Any:
    with _SNS_SIGNING_KEY_LOCK:
        if not _SNS_SIGNING_KEY:
            from cryptography.hazmat.primitives.asymmetric import rsa

            _SNS_SIGNING_KEY.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _SNS_SIGNING_KEY[0]


def _quiet_request_log() -> None:
    if os.environ.get("BUNKER_MOTO_QUIET") == "1":
        import logging

        logging.getLogger("werkzeug").setLevel(logging.WARNING)


_lazy_private_keys()
_cached_module_list()
moto.sns.models.Subscription.private_key = _shared_sns_signing_key  # type: ignore[method-assign]
moto.core.responses.method_names_from_class = functools.cache(moto.core.responses.method_names_from_class)
_quiet_request_log()
# Read by moto each time it builds an account's EC2 backend; a caller's own setting wins.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

import lambda_bridge  # noqa: E402,F401  (tools/moto/lambda_bridge.py: state machines run, Lambda tasks reach a test's function host)


def main(argv: list[str] | None = None) -> None:
    """Start moto's server with the patches above: same arguments as
    ``python -m moto.server`` (-H HOST -p PORT ...)."""
    from moto.server import main as moto_main

    if os.environ.get("BUNKER_MOTO_EXIT_ON_STDIN_EOF") == "1":
        _exit_when_stdin_closes()
    moto_main(argv)


if __name__ == "__main__":
    main()
