"""luactor's workflow start options (``start_options``) as temporalio's arguments:
those of a client's ``start_workflow`` and of a workflow's ``start_child_workflow``,
retry policies, and search attributes typed by their Lua values."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)

from actors.errors import ActorError

from . import start_options

__all__ = ["activity_retry_policy", "child_arguments", "retry_policy", "search_attribute_updates",
           "start_arguments"]

REUSE_POLICIES = {
    "allow_duplicate": WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    "allow_duplicate_failed_only": WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    "reject_duplicate": WorkflowIDReusePolicy.REJECT_DUPLICATE,
}

PARENT_CLOSE_POLICIES = {
    "terminate": workflow.ParentClosePolicy.TERMINATE,
    "abandon": workflow.ParentClosePolicy.ABANDON,
    "request_cancel": workflow.ParentClosePolicy.REQUEST_CANCEL,
}


def retry_policy(policy: start_options.RetryPolicy) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=policy.initial_interval),
        backoff_coefficient=policy.backoff_coefficient,
        maximum_interval=None if policy.maximum_interval is None else timedelta(seconds=policy.maximum_interval),
        maximum_attempts=policy.maximum_attempts,
        non_retryable_error_types=list(policy.non_retryable_error_types))


def activity_retry_policy(policy: dict) -> RetryPolicy:
    """A call's ``activity.retry_policy`` as funcs reads it (intervals in ns)."""
    maximum = policy.get("maximum_interval")
    return RetryPolicy(
        initial_interval=timedelta(microseconds=policy["initial_interval"] / 1000),
        backoff_coefficient=policy["backoff_coefficient"],
        maximum_interval=None if maximum is None else timedelta(microseconds=maximum / 1000),
        maximum_attempts=policy["maximum_attempts"],
        non_retryable_error_types=sorted(policy.get("non_retryable") or ()))


def _key(name: str, value: Any) -> SearchAttributeKey:
    """The typed key of a search attribute, by its value: bool, int, float, keyword or keyword list."""
    if isinstance(value, bool):
        return SearchAttributeKey.for_bool(name)
    if isinstance(value, int):
        return SearchAttributeKey.for_int(name)
    if isinstance(value, float):
        return SearchAttributeKey.for_float(name)
    if isinstance(value, str):
        return SearchAttributeKey.for_keyword(name)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return SearchAttributeKey.for_keyword_list(name)
    raise ActorError("Invalid", f"search attribute {name!r}: a string, number, boolean or list of strings, "
                                f"got {value!r}")


def _search_attributes(values: dict) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(_key(name, value), value) for name, value in values.items()])


def search_attribute_updates(values: dict) -> list[SearchAttributeUpdate]:
    return [_key(name, value).value_set(value) for name, value in values.items()]


def _shared(wanted: start_options.StartOptions) -> dict[str, Any]:
    """The arguments that starting a workflow and a child workflow have in common."""
    arguments: dict[str, Any] = {}
    for name in ("execution_timeout", "run_timeout", "task_timeout"):
        if (value := getattr(wanted, name)) is not None:
            arguments[name] = timedelta(seconds=value)
    if wanted.retry_policy is not None:
        arguments["retry_policy"] = retry_policy(wanted.retry_policy)
    if wanted.cron_schedule is not None:
        arguments["cron_schedule"] = wanted.cron_schedule
    if wanted.memo:
        arguments["memo"] = wanted.memo
    if wanted.search_attributes:
        arguments["search_attributes"] = _search_attributes(wanted.search_attributes)
    return arguments


def _reuse_policy(wanted: start_options.StartOptions) -> WorkflowIDReusePolicy:
    """An id stays taken after its workflow closed, as on the embedded host, unless the start
    says otherwise; terminate_existing starts a new run."""
    if wanted.reuse_policy is not None:
        return REUSE_POLICIES[wanted.reuse_policy]
    if wanted.policy == "terminate_existing":
        return WorkflowIDReusePolicy.ALLOW_DUPLICATE
    return WorkflowIDReusePolicy.REJECT_DUPLICATE


def start_arguments(wanted: start_options.StartOptions, namespace: str) -> dict[str, Any]:
    """``Client.start_workflow``'s arguments (without id, conflict policy and task queue)."""
    if wanted.namespace not in (None, namespace):
        wanted.refuse(("namespace",), f"this worker's client is connected to namespace {namespace!r}; "
                                      "use a temporal.client (and worker) of that namespace")
    wanted.refuse(("parent_close_policy", "wait_for_cancellation"), "applies to child workflows only")
    arguments = _shared(wanted)
    arguments["id_reuse_policy"] = _reuse_policy(wanted)
    if wanted.start_delay is not None:
        arguments["start_delay"] = timedelta(seconds=wanted.start_delay)
    if wanted.eager_start:
        arguments["request_eager_start"] = True
    return arguments


def child_arguments(wanted: start_options.StartOptions, namespace: str, linked: bool) -> dict[str, Any]:
    """``workflow.start_child_workflow``'s arguments (without id and task queue). Unless
    ``parent_close_policy`` says otherwise, a child is abandoned when its parent closes,
    but a linked one is terminated."""
    if wanted.namespace not in (None, namespace):
        wanted.refuse(("namespace",), "a child workflow runs in its parent's namespace")
    wanted.refuse(("start_delay",), "Temporal does not delay child workflows")
    arguments = _shared(wanted)
    arguments["id_reuse_policy"] = _reuse_policy(wanted)
    arguments["parent_close_policy"] = PARENT_CLOSE_POLICIES[
        wanted.parent_close_policy or ("terminate" if linked else "abandon")]
    if wanted.wait_for_cancellation is not None:
        arguments["cancellation_type"] = (workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED
                                          if wanted.wait_for_cancellation
                                          else workflow.ChildWorkflowCancellationType.TRY_CANCEL)
    return arguments
