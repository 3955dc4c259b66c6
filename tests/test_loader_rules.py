"""Wippy's rules for definition files, as the loader applies them: single-entry files,
references relative to a namespace, field aliases, accepted Wippy fields, warnings for
ignored fields, and the modules luactor provides."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from registry_helpers import OK_LUA, isolate_kinds, only_problem, write_app

from actors import Node, cli
from actors.lua_modules import WIPPY_ONLY
from actors.registry import check_app, check_report, load_app
from actors.registry.schema import KindSpec, kind_names, kind_spec, register_kind
from supervision.config import ServiceSpec, SupervisorSpec

# --------------------------------------------------------------------------- single-entry files


def test_a_file_with_namespace_name_and_kind_is_one_entry(tmp_path):
    app = write_app(tmp_path, {
        "host.yaml": "namespace: app\nname: processes\nkind: process.host\nhost: {workers: 2}\n",
        "worker.yaml": """\
            version: "1.0"
            namespace: app
            name: worker
            kind: process.lua
            meta: {comment: one entry per file}
            source: file://ok.lua
            method: main
        """,
        "ok.lua": OK_LUA,
    })
    registry = load_app(app)
    assert list(registry.entries) == ["app:processes", "app:worker"]
    assert registry["app:processes"].get("host.workers") == 2
    worker = registry["app:worker"]
    assert worker.fields == {"source": "file://ok.lua", "method": "main"}
    assert worker.meta == {"comment": "one entry per file"}
    assert registry.warnings == []


def test_problems_of_a_single_entry_file_name_its_file_and_entry(tmp_path):
    app = write_app(tmp_path, {"w.yaml": "namespace: app\nname: w\nkind: process.lua\nmethod: main\n"})
    problem = only_problem(app)
    assert str(problem) == "app/w.yaml: app:w: field 'source': required field is missing"


def test_single_entry_files_mix_with_files_of_entries(tmp_path):
    app = write_app(tmp_path, {
        "a.yaml": "namespace: app\nentries: [{name: host, kind: process.host}]\n",
        "b.yaml": "namespace: app\nname: host\nkind: process.host\n",
    })
    problem = only_problem(app)
    assert (problem.file, problem.entry) == ("app/b.yaml", "app:host")
    assert "duplicate id, first defined in app/a.yaml" in problem.message


def test_a_namespace_and_a_name_without_kind_is_not_a_definition_but_is_mentioned(tmp_path):
    app = write_app(tmp_path, {"x.yaml": "namespace: app\nname: worker\nsource: file://ok.lua\n"})
    report = check_report(app)
    assert report.problems == [] and len(report.registry) == 0
    [warning] = report.warnings
    assert warning.file == "app/x.yaml"
    assert "has 'namespace' and 'name' but no 'kind'" in warning.message


def test_unknown_keys_beside_entries_are_warned_about(tmp_path):
    app = write_app(tmp_path, {"a.yaml": "namespace: app\nentires: []\nentries: []\n"})
    [warning] = check_report(app).warnings
    assert str(warning) == "app/a.yaml: field 'entires': not a key of a definition file; ignored"


# --------------------------------------------------------------------------- relative references


def test_a_bare_name_refers_to_the_entry_of_that_name_in_the_same_namespace(tmp_path):
    app = write_app(tmp_path, {
        "api.yaml": """\
            namespace: app.api
            entries:
              - {name: processes, kind: process.host}
              - {name: lib, kind: library.lua, source: file://ok.lua}
              - {name: worker, kind: process.lua, source: file://ok.lua, method: main,
                 imports: {lib: lib, util: app.shared:util}}
              - {name: root, kind: supervisor}
              - name: svc
                kind: process.service
                process: worker
                host: processes
                supervisor: root
                lifecycle: {requires: [processes, app.shared:other]}
              - {name: temporal, kind: temporal.client}
              - {name: tw, kind: temporal.worker, client: temporal, task_queue: q}
        """,
        "shared.yaml": """\
            namespace: app.shared
            entries:
              - {name: util, kind: library.lua, source: file://ok.lua}
              - {name: other, kind: process.host}
        """,
        "ok.lua": OK_LUA,
    })
    registry = load_app(app)
    assert registry["app.api:worker"].get("imports") == {"lib": "app.api:lib", "util": "app.shared:util"}
    svc = registry["app.api:svc"]
    assert (svc.get("process"), svc.get("host"), svc.get("supervisor")) == (
        "app.api:worker", "app.api:processes", "app.api:root")
    assert svc.get("lifecycle.requires") == ["app.api:processes", "app.shared:other"]
    assert registry["app.api:tw"].get("client") == "app.api:temporal"


def test_a_bare_name_is_checked_as_the_id_it_means(tmp_path):
    app = write_app(tmp_path, {"app.yaml": """\
        namespace: app
        entries:
          - {name: host, kind: process.host}
          - {name: e, kind: process.lua, source: file://ok.lua, method: main, imports: {h: host, n: nothing}}
    """, "ok.lua": OK_LUA})
    assert [(p.field, p.message) for p in check_app(app)] == [
        ("imports.h", "app:host is a process.host, expected process.lua or function.lua or workflow.lua or library.lua"),
        ("imports.n", "reference to missing entry app:nothing"),
    ]


def test_cycles_through_bare_names_are_found(tmp_path):
    app = write_app(tmp_path, {"app.yaml": """\
        namespace: app
        entries:
          - {name: a, kind: library.lua, source: file://ok.lua, imports: {b: b}}
          - {name: b, kind: library.lua, source: file://ok.lua, imports: {a: app:a}}
    """, "ok.lua": OK_LUA})
    assert only_problem(app).message == "dependency cycle (imports): app:a -> app:b -> app:a"


# --------------------------------------------------------------------------- process.service and lifecycles


def service_app(tmp_path, service_fields: str, extra_entries: str = "") -> Path:
    return write_app(tmp_path, {"app.yaml": f"""\
        namespace: app
        entries:
          - {{name: host, kind: process.host}}
          - {{name: proc, kind: process.lua, source: file://ok.lua, method: main}}
          - {{name: svc, kind: process.service, process: proc, host: host, {service_fields}}}
          {extra_entries}
    """, "ok.lua": OK_LUA})


@pytest.mark.parametrize("field", ["input", "args"])
def test_a_services_arguments_come_from_input_or_its_alias_args(tmp_path, field):
    registry = load_app(service_app(tmp_path, f"{field}: [1, two, {{three: 3}}]"))
    svc = registry["app:svc"]
    assert svc.get("input") == [1, "two", {"three": 3}] and "args" not in svc.fields
    assert ServiceSpec.from_entry(svc).args == (1, "two", {"three": 3})


def test_input_and_args_together_are_a_problem(tmp_path):
    problem = only_problem(service_app(tmp_path, "input: [1], args: [2]"))
    assert str(problem) == "app/app.yaml: app:svc: field 'args': another name for 'input': give one of them, not both"


def test_input_must_be_a_list_of_arguments(tmp_path):
    problem = only_problem(service_app(tmp_path, "input: {order: 5}"))
    assert (problem.field, problem.message) == ("input", "must be a list, got {'order': 5}")


def test_depends_on_is_joined_with_requires(tmp_path):
    extra = "- {name: db, kind: process.service, process: proc, host: host}"
    registry = load_app(service_app(tmp_path, "lifecycle: {requires: [host], depends_on: [db, host]}", extra))
    lifecycle = registry["app:svc"].fields["lifecycle"]
    assert lifecycle == {"requires": ["app:host", "app:db"]}


def test_depends_on_alone_is_requires(tmp_path):
    supervisor_app = write_app(tmp_path, {"app.yaml": """\
        namespace: app
        entries:
          - {name: a, kind: supervisor}
          - {name: b, kind: supervisor, lifecycle: {depends_on: [a]}}
    """})
    assert load_app(supervisor_app)["app:b"].get("lifecycle.requires") == ["app:a"]


def test_depends_on_is_checked_and_ordered_like_requires(tmp_path):
    extra = "- {name: db, kind: process.service, process: proc, host: host, lifecycle: {requires: [svc]}}"
    app = service_app(tmp_path, "lifecycle: {depends_on: [db, proc]}", extra)
    assert [(p.entry, p.field, p.message) for p in check_app(app)] == [
        ("app:svc", "lifecycle.depends_on[1]",
         "app:proc is a process.lua, expected process.host or process.service or supervisor or workflow.host "
         "or temporal.worker"),
        ("app:svc", "lifecycle.depends_on[0]", "dependency cycle (startup): app:svc -> app:db -> app:svc"),
    ]


# --------------------------------------------------------------------------- process.host


def test_process_host_accepts_wippys_queue_sizes_with_their_defaults(tmp_path):
    app = write_app(tmp_path, {"app.yaml": """\
        namespace: app
        entries:
          - {name: plain, kind: process.host}
          - {name: tuned, kind: process.host, host: {workers: 8, queue_size: 4096, local_queue_size: 512}}
    """})
    report = check_report(app)
    assert report.problems == [] and report.warnings == []
    plain, tuned = report.registry["app:plain"], report.registry["app:tuned"]
    assert (plain.get("host.queue_size"), plain.get("host.local_queue_size")) == (1024, 256)
    assert (tuned.get("host.queue_size"), tuned.get("host.local_queue_size")) == (4096, 512)


@pytest.mark.parametrize(("fields", "field", "message"), [
    ("queue_size: 0", "host.queue_size", "must be at least 1, got 0"),
    ("queue_size: big", "host.queue_size", "must be an integer, got 'big'"),
    ("local_queue_size: -3", "host.local_queue_size", "must be at least 1, got -3"),
    ("local_queue_size: 1.5", "host.local_queue_size", "must be an integer, got 1.5"),
])
def test_process_host_queue_sizes_are_positive_integers(tmp_path, fields, field, message):
    app = write_app(tmp_path, {"app.yaml": f"namespace: app\nentries: [{{name: h, kind: process.host, host: {{{fields}}}}}]\n"})
    problem = only_problem(app)
    assert (problem.entry, problem.field, problem.message) == ("app:h", field, message)


# --------------------------------------------------------------------------- warnings


WARNED = """\
    namespace: app
    entries:
      - {name: host, kind: process.host, lifecycle: {auto_strat: true}}
      - {name: fn, kind: function.lua, source: file://ok.lua, method: main, pool: {type: lazy}}
      - {name: proc, kind: process.lua, source: file://ok.lua, method: main}
      - name: svc
        kind: process.service
        process: proc
        host: host
        input: [{anything: goes}]
        meta: {free: form}
        lifecycle: {security: {actor: {id: admin}}, restart: {max_attempts: 1}}
      - {name: t, kind: temporal.client}
      - {name: tw, kind: temporal.worker, client: t, task_queue: q, worker_options: {max_concurrent_activities: 5}}
"""


def test_ignored_fields_are_warnings_naming_file_entry_and_field(tmp_path):
    report = check_report(write_app(tmp_path, {"app.yaml": WARNED, "ok.lua": OK_LUA}))
    assert report.problems == []
    assert [str(warning) for warning in report.warnings] == [
        "app/app.yaml: app:host: field 'lifecycle.auto_strat': not a process.host field luactor reads; ignored "
        "(did you mean 'lifecycle.auto_start'?)",
        "app/app.yaml: app:fn: field 'pool': not a function.lua field luactor reads; ignored",
        "app/app.yaml: app:svc: field 'lifecycle.security': not a process.service field luactor reads; ignored",
    ]


def test_check_prints_warnings_and_still_succeeds(tmp_path, capsys):
    app = write_app(tmp_path, {"app.yaml": WARNED, "ok.lua": OK_LUA})
    assert cli.main(["check", str(app)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[2] for line in out[:-1]] == ["app:host", "app:fn", "app:svc"]
    assert all(line.startswith("warning: app/app.yaml: ") for line in out[:-1])
    assert out[-1] == "ok: 6 entries (3 warnings)"


def test_check_prints_problems_then_warnings_and_fails(tmp_path, capsys):
    app = write_app(tmp_path, {"app.yaml": """\
        namespace: app
        entries:
          - {name: host, kind: process.host, host: {workers: 0, stealing: true}}
    """})
    assert cli.main(["check", str(app)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "app/app.yaml: app:host: field 'host.workers': must be at least 1, got 0",
        "warning: app/app.yaml: app:host: field 'host.stealing': not a process.host field luactor reads; ignored",
    ]
    assert "1 problem in" in captured.err


async def test_node_open_logs_each_warning_once(app, caplog):
    app.entry(name="fn", kind="function.lua", source="file://fn.lua", method="main", pool={"type": "lazy"})
    (app.root / "fn.lua").write_text(OK_LUA)
    caplog.set_level(logging.WARNING, logger="luactor")
    async with Node.open(app.root):
        pass
    warned = [record for record in caplog.records if record.name == "luactor" and "'pool'" in record.getMessage()]
    assert [record.getMessage() for record in warned] == [
        "app/app.yaml: test:fn: field 'pool': not a function.lua field luactor reads; ignored"]


# --------------------------------------------------------------------------- modules


def module_problems(tmp_path, modules: list[str], kind: str = "process.lua") -> list[str]:
    app = write_app(tmp_path, {"app.yaml": yaml.safe_dump({"namespace": "app", "entries": [
        {"name": "handler", "kind": kind, "source": "file://ok.lua", "method": "main", "modules": modules},
    ]}), "ok.lua": OK_LUA})
    return [str(problem) for problem in check_app(app)]


def test_always_present_modules_may_be_listed(tmp_path):
    assert module_problems(tmp_path, ["process", "channel", "errors", "payload", "time"]) == []


@pytest.mark.parametrize("module", sorted(WIPPY_ONLY))
def test_a_wippy_module_luactor_lacks_is_named_as_such(tmp_path, module):
    assert module_problems(tmp_path, ["json", module]) == [
        f"app/app.yaml: app:handler: field 'modules[1]': module {module!r} is not provided by luactor "
        "(it provides funcs, time, uuid, json, ctx, logger, metrics, pg, system, process, channel, errors, payload)"]


def test_a_workflow_is_told_it_may_use_the_workflow_module(tmp_path):
    [problem] = module_problems(tmp_path, ["http"], kind="workflow.lua")
    assert problem.endswith("(it provides funcs, time, uuid, json, ctx, logger, workflow, process, channel, errors, payload)")


def test_a_name_that_is_no_module_at_all(tmp_path):
    assert module_problems(tmp_path, ["frobnicate"]) == [
        "app/app.yaml: app:handler: field 'modules[0]': unknown module 'frobnicate' "
        "(luactor provides funcs, time, uuid, json, ctx, logger, metrics, pg, system, process, channel, errors, payload)"]


# --------------------------------------------------------------------------- kind declarations


def test_every_kind_is_declared_by_the_package_that_runs_it():
    assert set(kind_names()) >= {
        "process.lua", "function.lua", "workflow.lua", "library.lua",
        "process.host", "workflow.host", "temporal.client", "temporal.worker",
        "process.service", "supervisor",
    }


def test_loading_temporal_entries_does_not_import_temporalio(tmp_path):
    app = write_app(tmp_path, {"app.yaml": """\
        namespace: app
        entries:
          - {name: t, kind: temporal.client}
          - {name: w, kind: temporal.worker, client: t, task_queue: q}
    """})
    script = (f"import sys; from actors.registry import load_app; load_app({str(app)!r}); "
              "assert 'temporalio' not in sys.modules, 'temporalio was imported'")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_users_of_a_kind_read_the_default_it_declares(tmp_path, monkeypatch):
    isolate_kinds(monkeypatch)
    declared = kind_spec("supervisor")
    register_kind("supervisor", KindSpec(tuple(
        dataclasses.replace(field, default="7s") if field.path == "period" else field for field in declared.fields)))
    app = write_app(tmp_path, {"app.yaml": "namespace: app\nentries: [{name: s, kind: supervisor}]\n"})
    assert SupervisorSpec.from_entry(load_app(app)["app:s"]).period == 7.0


# --------------------------------------------------------------------------- properties

names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
namespaces = st.from_regex(r"[a-z][a-z0-9.]{0,6}", fullmatch=True)
loader_settings = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def library_chain(namespace: str, count: int) -> list[dict]:
    """Libraries lib0 .. lib{count-1}, each importing every earlier one (never a cycle)."""
    return [{"name": f"lib{index}", "kind": "library.lua", "source": "file://ok.lua",
             "imports": {f"m{earlier}": f"{namespace}:lib{earlier}" for earlier in range(index)}}
            for index in range(count)]


def load_written(files: dict[str, dict]) -> dict[str, tuple[str, dict]]:
    """Load {file name: YAML document} from a fresh directory: {id: (kind, fields)}."""
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "ok.lua").write_text(OK_LUA)
        for name, document in files.items():
            (Path(root) / name).write_text(yaml.safe_dump(document))
        registry = load_app(root)
        assert registry.warnings == []
        return {entry.id: (entry.kind, entry.fields) for entry in registry}


@loader_settings
@given(namespaces, st.integers(min_value=1, max_value=5), st.data())
def test_a_bare_name_loads_exactly_as_its_full_id(namespace, count, data):
    absolute = library_chain(namespace, count)
    relative = [dict(entry, imports={
        key: target.split(":")[1] if data.draw(st.booleans()) else target
        for key, target in entry["imports"].items()
    }) for entry in absolute]
    assert load_written({"a.yaml": {"namespace": namespace, "entries": relative}}) == \
        load_written({"a.yaml": {"namespace": namespace, "entries": absolute}})


@loader_settings
@given(namespaces, st.integers(min_value=1, max_value=5))
def test_single_entry_files_load_as_one_file_of_entries(namespace, count):
    entries = library_chain(namespace, count)
    single_files = {f"e{index}.yaml": {"namespace": namespace, **entry} for index, entry in enumerate(entries)}
    assert load_written(single_files) == load_written({"all.yaml": {"namespace": namespace, "entries": entries}})


@loader_settings
@given(st.lists(names.filter(lambda name: name not in ("host", "lifecycle")), min_size=1, max_size=4, unique=True))
def test_an_undeclared_field_is_a_warning_never_a_problem(unknown):
    with tempfile.TemporaryDirectory() as root:
        fields = {name: "x" for name in unknown}
        document = {"namespace": "app", "entries": [{"name": "h", "kind": "process.host", **fields}]}
        (Path(root) / "app.yaml").write_text(yaml.safe_dump(document))
        report = check_report(root)
    assert report.problems == []
    assert sorted(warning.field for warning in report.warnings) == sorted(unknown)
