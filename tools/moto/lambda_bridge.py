"""The launcher's Lambda bridge: state machines run on moto's own ASL
interpreter, and their Lambda tasks reach a function host the test runs,
instead of Docker. Imported by ``bunker_moto.py``; nothing changes until a
test switches it on for an account.

Why this exists: moto 5.2.5 can execute a state machine (its ASL
interpreter, behind the config ``stepfunctions.execute_state_machine``),
but a ``lambda:invoke`` task then calls moto's Lambda ``Invoke``, which runs
the function's code in Docker, and the emulator has none. Three more things
stand between the interpreter and the state machine's own account:

* the interpreter's Lambda client (``boto_client_for``) signs with the fixed
  keys ``ak``/``sk``, which moto files under its default account, so the
  function is looked up there and not in the state machine's account;
* it calls ``localhost:$MOTO_PORT`` (5000 when unset), not the port the
  launcher was started on;
* the config switch is one global flag: every test's Step Functions would
  move to the interpreter's backend at once.

``POST /moto-api/bunker/lambda-bridge`` with ``{"account", "url",
"waitScale"?}`` switches the bridge on for one account:

* Step Functions requests of that account go to moto's interpreter backend
  (``stepfunctions_parser_backends``): executions run, and their history
  records every state. Other accounts keep moto's default backend.
* Lambda tasks of that account's executions call moto's Lambda ``Invoke``
  over HTTP on the port this request arrived on (its Host header), as that
  account (``x-moto-account-id``), so the function must exist in moto's
  Lambda there, as in AWS.
* ``Invoke`` of a function of that account (any caller) is POSTed to
  ``<url>/2015-03-31/functions/<name>/invocations`` with the event as the
  body; the host's answer is the function's result, and its
  ``X-Amz-Function-Error`` header (``Unhandled``) a function error, which
  the interpreter turns into the task's failure as AWS does.
* ``waitScale`` (default 1) multiplies the seconds of every Wait state of
  that account's executions: a test of a definition whose restores wait
  15 s waits 15 ms at 0.001. The definition and the function's answers are
  unchanged; only the emulator's time passes faster.
* ``StartExecution`` without a name gets a UUID, as AWS gives it (moto named
  every such execution ``None``, so a second one was taken for a repeat of
  the first).
* ``GetExecutionHistory`` honours ``reverseOrder``, ``maxResults`` and
  ``nextToken`` (moto answered the whole history, oldest first).
* A distributed Map's items run as child executions, as in AWS: each
  ``<machine>/<label>:<uuid>``, with a history of its own (from
  ``ExecutionStarted`` to ``ExecutionSucceeded`` or ``ExecutionFailed``)
  that ``GetExecutionHistory`` and ``DescribeExecution`` answer, listed by
  ``ListExecutions`` with ``mapRunArn``. (moto's interpreter ran each item
  in the parent with an event log of its own that it then dropped, and
  knew no ``mapRunArn`` in ``ListExecutions``.) Not done: stopping the
  parent does not stop its children with ``ExecutionAborted``.

``DELETE`` with ``{"account"}`` switches it off again.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class _Bridge:
    url: str
    wait_scale: float
    #: ``host:port`` the launcher is reached on, from the switching request.
    server: str


_BRIDGES: dict[str, _Bridge] = {}
_CALLER = threading.local()


@dataclass
class _Child:
    """A distributed Map's child execution: what DescribeExecution and ListExecutions answer, and its history."""

    account: str
    arn: str
    name: str
    #: The Map Run's own state machine ARN, ``<machine>/<label>``, as AWS names a child's.
    state_machine_arn: str
    map_run_arn: str
    input: str
    start_date: Any
    events: Any
    status: str = "RUNNING"
    stop_date: Any = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None

    def described(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "executionArn": self.arn,
            "name": self.name,
            "stateMachineArn": self.state_machine_arn,
            "mapRunArn": self.map_run_arn,
            "status": self.status,
            "startDate": self.start_date,
        }
        if self.stop_date is not None:
            answer["stopDate"] = self.stop_date
        return answer


#: Child executions by ARN, in start order.
_CHILDREN: dict[str, _Child] = {}


def _bridged(account: str | None) -> _Bridge | None:
    return _BRIDGES.get(account or "")


def _set_bridge(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    body = json.loads(request.get_data() or b"{}")
    account = str(body.get("account", ""))
    if not account:
        return 400, {}, json.dumps({"Error": "an account is required"})
    if request.method == "DELETE":
        _BRIDGES.pop(account, None)
        for arn in [arn for arn, child in _CHILDREN.items() if child.account == account]:
            _CHILDREN.pop(arn, None)
        return 200, {}, json.dumps({"account": account, "bridged": False})
    if request.method != "POST":
        return 400, {}, json.dumps({"Error": "POST {account, url, waitScale?} or DELETE {account}"})
    url = str(body.get("url", "")).rstrip("/")
    scale = float(body.get("waitScale", 1))
    if not url.startswith("http://") or not 0 < scale <= 1:
        return 400, {}, json.dumps({"Error": "url must be http://host:port, waitScale in (0, 1]"})
    server = request.headers.get("Host", "")
    _BRIDGES[account] = _Bridge(url=url, wait_scale=scale, server=server)
    return 200, {}, json.dumps({"account": account, "url": url, "waitScale": scale, "server": server})


# --- Step Functions: the interpreter's backend for bridged accounts ----------


def _patch_stepfunctions() -> None:
    from moto.core.responses import ActionResult
    from moto.stepfunctions import responses as sfn_responses
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend, stepfunctions_parser_backends

    original_backend = sfn_responses.StepFunctionResponse.stepfunction_backend

    def stepfunction_backend(self: Any) -> Any:
        if _bridged(self.current_account):
            return stepfunctions_parser_backends[self.current_account][self.region]
        return original_backend.fget(self)

    sfn_responses.StepFunctionResponse.stepfunction_backend = property(stepfunction_backend)  # type: ignore[assignment]

    original_start = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any) -> Any:
        return original_start(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]

    original_history = sfn_responses.StepFunctionResponse.get_execution_history

    def get_execution_history(self: Any) -> Any:
        child = _CHILDREN.get(self._get_param("executionArn") or "")
        if child is not None and child.account == self.current_account:
            events = list(child.events.get_event_history())
        else:
            result = original_history(self)
            if not _bridged(self.current_account):
                return result
            events = list(result.result.get("events", []))
        if self._get_param("reverseOrder"):
            events.reverse()
        start = int(self._get_param("nextToken") or 0)
        size = int(self._get_param("maxResults") or 1000)
        page = events[start : start + size]
        answer = {"events": page}
        if start + size < len(events):
            answer["nextToken"] = str(start + size)
        return ActionResult(answer)

    sfn_responses.StepFunctionResponse.get_execution_history = get_execution_history  # type: ignore[method-assign]

    original_describe = sfn_responses.StepFunctionResponse.describe_execution

    def describe_execution(self: Any) -> Any:
        child = _CHILDREN.get(self._get_param("executionArn") or "")
        if child is None or child.account != self.current_account:
            return original_describe(self)
        answer = {**child.described(), "input": child.input}
        for field in ("output", "error", "cause"):
            if getattr(child, field) is not None:
                answer[field] = getattr(child, field)
        return ActionResult(answer)

    sfn_responses.StepFunctionResponse.describe_execution = describe_execution  # type: ignore[method-assign]

    original_list = sfn_responses.StepFunctionResponse.list_executions

    def list_executions(self: Any) -> Any:
        map_run_arn = self._get_param("mapRunArn")
        if not map_run_arn or not _bridged(self.current_account):
            return original_list(self)
        status = self._get_param("statusFilter")
        children = [
            child.described()
            for child in reversed(list(_CHILDREN.values()))
            if child.map_run_arn == map_run_arn and child.account == self.current_account
            if status is None or child.status == status
        ]
        # Newest first, as ListExecutions answers; a Map Run's few children fit one page.
        return ActionResult({"executions": children})

    sfn_responses.StepFunctionResponse.list_executions = list_executions  # type: ignore[method-assign]


# --- The interpreter's Lambda tasks: this server, the execution's account ----


def _patch_interpreter() -> None:
    import boto3
    from botocore.config import Config
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    original_integration = lambda_eval_utils.execute_lambda_function_integration
    original_client = lambda_eval_utils.boto_client_for

    def execute_lambda_function_integration(env: Any, parameters: dict, region: str, state_credentials: Any) -> None:
        _CALLER.account = env.aws_execution_details.account
        try:
            original_integration(env=env, parameters=parameters, region=region, state_credentials=state_credentials)
        finally:
            _CALLER.account = None

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        account = getattr(_CALLER, "account", None)
        bridge = _bridged(account)
        if bridge is None or service != "lambda":
            return original_client(region=region, service=service, state_credentials=state_credentials)
        client = boto3.client(
            "lambda",
            region_name=region,
            endpoint_url=f"http://{bridge.server}",
            aws_access_key_id="ak",
            aws_secret_access_key="sk",
            # One attempt, as moto's own client: the state machine's Retry decides.
            config=Config(retries={"total_max_attempts": 1}, read_timeout=900, connect_timeout=10),
        )

        def as_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account

        client.meta.events.register("before-send.lambda", as_account)
        return client

    lambda_eval_utils.execute_lambda_function_integration = execute_lambda_function_integration
    lambda_eval_utils.boto_client_for = boto_client_for
    # The Lambda service task looks the function up through the module, so the patch above is what it calls.

    original_wait = WaitFunction._eval_body

    def wait_body(self: Any, env: Any) -> None:
        bridge = _bridged(env.aws_execution_details.account)
        if bridge is None or bridge.wait_scale == 1:
            return original_wait(self, env)
        seconds = self._get_wait_seconds(env=env)
        if seconds > 0:
            # moto's own wait re-enters while whole seconds remain; a scaled wait is one wait.
            env.program_state_event.wait(seconds * bridge.wait_scale)
        return None

    WaitFunction._eval_body = wait_body  # type: ignore[method-assign]

    _patch_distributed_map()


def _patch_distributed_map() -> None:
    """Each item of a distributed Map of a bridged account runs as a child execution with its own history."""
    import datetime

    from moto.stepfunctions.parser.api import (
        ExecutionFailedEventDetails,
        ExecutionStartedEventDetails,
        ExecutionSucceededEventDetails,
        HistoryEventExecutionDataDetails,
        HistoryEventType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (
        DistributedItemProcessorWorker,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext, EventManager
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded, ProgramError
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    original_eval_job = DistributedItemProcessorWorker._eval_job

    def eval_job(self: Any, env: Any, job: Any) -> None:
        details = env.aws_execution_details
        if _bridged(details.account) is None:
            return original_eval_job(self, env, job)
        record = self._map_run_record
        name = str(uuid.uuid4())
        # arn:...:mapRun:<machine>/<label>:<run id> runs children arn:...:execution:<machine>/<label>:<child id>.
        prefix = record.map_state_machine_arn.replace(":stateMachine:", ":execution:")
        child = _Child(
            account=details.account,
            arn=f"{prefix}:{name}",
            name=name,
            state_machine_arn=record.map_state_machine_arn,
            map_run_arn=record.map_run_arn,
            input=to_json_str(job.job_input, separators=(",", ":")),
            start_date=datetime.datetime.now(tz=datetime.timezone.utc),
            events=EventManager(),
        )
        _CHILDREN[child.arn] = child
        # The child's events go to its own history, from id 1, and not to the parent's.
        env.event_manager = child.events
        env.event_history_context = EventHistoryContext.of_program_start()
        child.events.add_event(
            context=env.event_history_context,
            event_type=HistoryEventType.ExecutionStarted,
            event_details=EventDetails(
                executionStartedEventDetails=ExecutionStartedEventDetails(
                    input=child.input,
                    inputDetails=HistoryEventExecutionDataDetails(truncated=False),
                    roleArn=details.role_arn,
                )
            ),
            update_source_event_id=False,
        )
        try:
            original_eval_job(self, env, job)
        finally:
            ended = env.program_state()
            if isinstance(ended, ProgramEnded):
                child.status, child.output = "SUCCEEDED", to_json_str(job.job_output, separators=(",", ":"))
                child.events.add_event(
                    context=env.event_history_context,
                    event_type=HistoryEventType.ExecutionSucceeded,
                    event_details=EventDetails(
                        executionSucceededEventDetails=ExecutionSucceededEventDetails(
                            output=child.output,
                            outputDetails=HistoryEventExecutionDataDetails(truncated=False),
                        )
                    ),
                )
            else:
                failure = (ended.error or {}) if isinstance(ended, ProgramError) else {}
                child.status = "FAILED"
                child.error, child.cause = failure.get("error"), failure.get("cause")
                child.events.add_event(
                    context=env.event_history_context,
                    event_type=HistoryEventType.ExecutionFailed,
                    event_details=EventDetails(
                        executionFailedEventDetails=ExecutionFailedEventDetails(
                            **{k: v for k, v in (("error", child.error), ("cause", child.cause)) if v}
                        )
                    ),
                )
            child.stop_date = datetime.datetime.now(tz=datetime.timezone.utc)

    DistributedItemProcessorWorker._eval_job = eval_job  # type: ignore[method-assign]


# --- Lambda Invoke: forwarded to the function host ---------------------------


def _forward(bridge: _Bridge, function_name: str, body: Any, timeout: float) -> tuple[bytes, str | None]:
    data = body if isinstance(body, bytes) else (body or "{}").encode("utf-8")
    request = urllib.request.Request(
        f"{bridge.url}/2015-03-31/functions/{function_name}/invocations",
        data=data,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.read(), answer.headers.get("X-Amz-Function-Error")
    except urllib.error.HTTPError as error:
        # The host could not run the function at all: a Lambda service error, as AWS answers one.
        detail = error.read().decode("utf-8", "replace")[:500]
        payload = {"errorType": "Lambda.ServiceException", "errorMessage": f"function host: {error.code} {detail}"}
        return json.dumps(payload).encode("utf-8"), "Unhandled"


def _patch_lambda() -> None:
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda_simple.models import LambdaSimpleBackend

    for backend_class in (LambdaBackend, LambdaSimpleBackend):
        original = backend_class.invoke

        def invoke(
            self: Any,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: Any,
            _original: Any = original,
        ) -> Any:
            bridge = _bridged(self.account_id)
            if bridge is None:
                return _original(self, function_name, qualifier, body, headers, response_headers)
            # Not found answers as moto's Lambda does: the function must exist in this account.
            fn = self.get_function(function_name, qualifier)
            payload, error = _forward(bridge, fn.function_name, body, float(fn.timeout or 3) + 30)
            if error:
                response_headers["x-amz-function-error"] = error
            response_headers["Content-Length"] = str(len(payload))
            return payload

        backend_class.invoke = invoke  # type: ignore[method-assign]


def _register_endpoint() -> None:
    from moto.moto_api._internal import urls as moto_api_urls

    moto_api_urls.url_paths["{0}/moto-api/bunker/lambda-bridge"] = _set_bridge


def install() -> None:
    """Applies the patches (on import, as bunker_moto.py's own); the bridge stays off until an account is switched on."""
    _patch_stepfunctions()
    _patch_interpreter()
    _patch_lambda()
    _register_endpoint()


install()
