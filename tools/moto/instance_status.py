"""EC2 status checks that take time, or fail (tests name it "launcher: status
checks").

moto reports both status checks of a running instance ``ok`` from its first
DescribeInstanceStatus, so a drill that waits for them never waits, and an
instance whose guest does not boot cannot be had. AWS runs the checks after
the instance is running: both read ``initializing`` for the first minutes,
then ``ok``, or ``impaired`` when the guest does not answer on its network
interface (the instance check) or its host fails (the system check).

With this module, an instance launched from an image tagged
``bunker-moto:status-checks`` (or itself tagged so, the instance's tag
winning) answers by the tag's value:

* ``initializing:<n>``: both checks ``initializing`` in the first ``n``
  DescribeInstanceStatus answers that include the instance, then ``ok``;
* ``impaired``: the instance check ``impaired`` (reachability ``failed``)
  from the first answer on, the system check ``ok``: a guest that did not
  boot on a healthy host;
* ``initializing:<n>:impaired``: ``n`` answers ``initializing``, then as
  ``impaired``: the way a failed boot shows in AWS.

Only answers given while the instance runs count. An untagged instance, and
any value not of these forms, is moto's as before. The count is kept on the
instance (moto's object) and is not reset by a stop and start.
"""

from __future__ import annotations

import datetime
import functools
import re
import threading
from typing import Any

from moto.ec2.models.instances import Instance, InstanceBackend

STATUS_TAG = "bunker-moto:status-checks"
_RUNNING = 16
_LOCK = threading.Lock()
_FORM = re.compile(r"^(?:initializing:(\d{1,4})(:impaired)?|(impaired))$")


def _plan(instance: Instance) -> tuple[int, str] | None:
    """(answers initializing, then ``ok`` or ``impaired``) from the instance's tag, else its image's."""
    tags = instance.ec2_backend.tags
    value = tags.get(instance.id, {}).get(STATUS_TAG) or tags.get(instance.image_id, {}).get(STATUS_TAG)
    found = _FORM.match(value or "")
    if found is None:
        return None
    if found.group(3):
        return 0, "impaired"
    return int(found.group(1)), "impaired" if found.group(2) else "ok"


def _status(instance: Instance, which: str) -> dict[str, Any] | None:
    """The check's answer for the instance's latest DescribeInstanceStatus, or None: moto's own."""
    plan = getattr(instance, "_bunker_status_plan", None)
    if plan is None or instance.state_code != _RUNNING:
        return None
    initializing, then = plan
    answers = getattr(instance, "_bunker_status_answers", 0)
    if answers <= initializing:
        return {"Status": "initializing", "Details": [{"Name": "reachability", "Status": "initializing"}]}
    if then == "impaired" and which == "instance":
        since = getattr(instance, "_bunker_impaired_since", None)
        return {
            "Status": "impaired",
            "Details": [{"Name": "reachability", "Status": "failed", "ImpairedSince": since}],
        }
    return {"Status": "ok", "Details": [{"Name": "reachability", "Status": "passed"}]}


def _patch() -> None:
    original_instance_status = Instance.instance_status
    original_system_status = Instance.system_status

    Instance.instance_status = property(  # type: ignore[method-assign,assignment]
        lambda self: _status(self, "instance") or original_instance_status.fget(self)
    )
    Instance.system_status = property(  # type: ignore[method-assign,assignment]
        lambda self: _status(self, "system") or original_system_status.fget(self)
    )

    describe = InstanceBackend.describe_instance_status

    @functools.wraps(describe)
    def describe_instance_status(self: Any, instance_ids: list[str], include_all_instances: bool, filters: Any) -> Any:
        instances = describe(self, instance_ids, include_all_instances, filters)
        with _LOCK:
            for instance in instances:
                if instance.state_code != _RUNNING:
                    continue
                if not hasattr(instance, "_bunker_status_plan"):
                    instance._bunker_status_plan = _plan(instance)
                plan = instance._bunker_status_plan
                if plan is None:
                    continue
                # This answer is the instance's n-th while it runs.
                instance._bunker_status_answers = getattr(instance, "_bunker_status_answers", 0) + 1
                if plan[1] == "impaired" and instance._bunker_status_answers == plan[0] + 1:
                    instance._bunker_impaired_since = datetime.datetime.now(datetime.timezone.utc)
        return instances

    InstanceBackend.describe_instance_status = describe_instance_status  # type: ignore[method-assign]


_patch()
