import itertools
import tempfile
import textwrap
from pathlib import Path

import lupa.lua54
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from registry_helpers import OK_LUA, isolate_kinds, located, only_problem, write_app

from actors.durations import SECOND
from actors.registry import (
    Entry,
    Problem,
    Registry,
    RegistryError,
    check_app,
    load_app,
)
from actors.registry.schema import (
    Duration,
    Field,
    Integer,
    KindSpec,
    ListOf,
    Ref,
    register_kind,
)
from actors.sizes import parse_byte_size

APPS = Path(__file__).parent / "apps"


@pytest.fixture
def private_kinds(monkeypatch):
    isolate_kinds(monkeypatch)


# --------------------------------------------------------------------------- a good app


@pytest.fixture(scope="module")
def good() -> Registry:
    return load_app(APPS / "registry_good")


def test_good_app_has_every_entry_in_declaration_order(good):
    assert list(good.entries) == [
        "app:processes",
        "app:worker",
        "app:add",
        "app:order",
        "app:worker_service",
        "app.lib:strings",
        "app.lib:base",
    ]
    assert good.app_dir == (APPS / "registry_good").resolve()
    assert len(good) == 7
    assert [entry.id for entry in good] == list(good.entries)


def test_entries_keep_their_parts_fields_and_meta(good):
    worker = good["app:worker"]
    assert (worker.namespace, worker.name, worker.kind) == ("app", "worker", "process.lua")
    assert worker.file == good.app_dir / "app.yaml"
    assert worker.fields == {
        "source": "file://worker.lua",
        "method": "main",
        "modules": ["time", "json", "logger"],
        "imports": {"strings": "app.lib:strings"},
    }
    assert worker.meta == {"comment": "echoes every job back", "tags": ["demo"]}
    assert good["app:processes"].meta == {}
    assert good["app:add"].meta["type"] == "test"


def test_source_paths_are_relative_to_the_yaml_file(good):
    assert good["app:worker"].source_path == good.app_dir / "worker.lua"
    assert good["app.lib:base"].source_path == good.app_dir / "lib" / "base.lua"
    assert "return { str = function(v)" in good["app.lib:base"].source_text
    assert good["app:processes"].source_path is None
    with pytest.raises(ValueError, match="no file:// source"):
        _ = good["app:processes"].source_text


def test_get_reads_dotted_fields_with_declared_defaults(good):
    host = good["app:processes"]
    assert host.get("host.workers") == 4
    assert host.get("host.max_memory") == "64MB"
    assert host.get("lifecycle.auto_start") is True
    service = good["app:worker_service"]
    assert service.get("lifecycle.restart.max_delay") == "1m30s"
    assert service.get("lifecycle.restart.mode") is None
    assert service.get("lifecycle.restart.mode", "transient") == "transient"
    assert good["app:worker"].get("imports.strings") == "app.lib:strings"
    assert good["app:worker"].get("no.such.field", 7) == 7


def test_get_falls_back_to_the_kinds_default(tmp_path):
    app = write_app(tmp_path, {"app.yaml": """
        namespace: app
        entries:
          - {name: host, kind: process.host}
          - {name: sup, kind: supervisor}
    """})
    registry = load_app(app)
    assert registry["app:host"].get("host.max_mailbox") == 100_000
    assert registry["app:host"].get("lifecycle.auto_start") is False
    assert registry["app:host"].get("lifecycle.auto_start", None) is None
    assert registry["app:sup"].get("period") == "5s"
    assert registry["app:sup"].get("strategy") == "one_for_one"


def test_entry_is_a_plain_dataclass():
    entry = Entry("a:b", "a", "b", "process.host", Path("x.yaml"), {"host": {"workers": 2}})
    assert entry.meta == {} and entry.get("host.workers") == 2


def test_registry_lookup(good):
    assert "app:add" in good
    assert "app:nope" not in good
    with pytest.raises(KeyError, match="app:nope"):
        good["app:nope"]
    assert [entry.id for entry in good.of_kind("library.lua")] == ["app.lib:strings", "app.lib:base"]
    assert [entry.id for entry in good.of_kind("function.lua", "workflow.lua")] == ["app:add", "app:order"]
    assert good.of_kind("temporal.worker") == []


def test_non_definition_yaml_and_hidden_directories_are_ignored(good):
    assert check_app(APPS / "registry_good") == []
    assert all(entry.file.name != "settings.yaml" for entry in good)


def test_references_work_across_files_and_namespaces(tmp_path):
    app = write_app(tmp_path, {
        "a.yaml": """
            namespace: one
            entries:
              - {name: main, kind: process.lua, source: file://ok.lua, method: main, imports: {lib: two:lib}}
        """,
        "deep/b.yaml": """
            namespace: two
            entries:
              - {name: lib, kind: library.lua, source: file://../ok.lua}
        """,
        "ok.lua": OK_LUA,
    })
    assert list(load_app(app).entries) == ["one:main", "two:lib"]


def test_empty_and_entryless_files(tmp_path):
    app = write_app(tmp_path, {
        "empty.yaml": "",
        "list.yaml": "- 1\n- 2\n",
        "none.yaml": "namespace: app\nentries: []\n",
        "null.yaml": "namespace: app\nentries:\n#  - {name: x, kind: process.host}\n",
    })
    assert len(load_app(app)) == 0


def test_version_is_optional_but_must_be_1_0(tmp_path):
    app = write_app(tmp_path, {
        "a.yaml": 'version: "1.0"\nnamespace: a\nentries: [{name: h, kind: process.host}]\n',
        "b.yaml": "version: 1.0\nnamespace: b\nentries: [{name: h, kind: process.host}]\n",
    })
    assert list(load_app(app).entries) == ["a:h", "b:h"]
    (app / "c.yaml").write_text('version: "2"\nnamespace: c\nentries: []\n')
    problem = only_problem(app)
    assert (problem.file, problem.field) == ("app/c.yaml", "version")


def test_null_optional_fields_count_as_absent(tmp_path):
    app = write_app(tmp_path, {"app.yaml": """
        namespace: app
        entries:
          - name: f
            kind: function.lua
            source: file://ok.lua
            method: main
            modules:
            imports: ~
    """, "ok.lua": OK_LUA})
    assert load_app(app)["app:f"].get("modules", []) == []


def test_sources_are_compiled_but_never_run(tmp_path):
    app = write_app(tmp_path, {"app.yaml": """
        namespace: app
        entries:
          - {name: f, kind: function.lua, source: file://boom.lua, method: main}
    """, "boom.lua": 'error("this must not run")\nwhile true do end\n'})
    assert "app:f" in load_app(app)


def test_one_lua_runtime_per_load(tmp_path, monkeypatch):
    created = []
    real = lupa.lua54.LuaRuntime

    def counting_runtime(*args, **kwargs):
        created.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(lupa.lua54, "LuaRuntime", counting_runtime)
    entries = "\n".join(
        f"  - {{name: f{i}, kind: function.lua, source: file://f{i}.lua, method: main}}" for i in range(5)
    )
    app = write_app(tmp_path, {"app.yaml": f"namespace: app\nentries:\n{entries}\n"})
    for i in range(5):
        (app / f"f{i}.lua").write_text(OK_LUA)
    load_app(app)
    assert created == [{"register_eval": False, "register_builtins": False}]


def test_byte_sizes():
    assert parse_byte_size(1024) == 1024
    assert parse_byte_size("512") == 512
    assert parse_byte_size("64MB") == 64_000_000
    assert parse_byte_size("64mib") == 64 * 2**20
    assert parse_byte_size("1.5 GiB") == 3 * 2**29
    assert parse_byte_size("2kb") == 2000
    for bad in ("64 parsecs", "-1MB", -1, True, 1.5, "", "MB"):
        with pytest.raises(ValueError):
            parse_byte_size(bad)


# --------------------------------------------------------------------------- a bad app


def test_bad_app_reports_every_problem_at_once():
    with pytest.raises(RegistryError) as caught:
        load_app(APPS / "registry_bad")
    problems = caught.value.problems
    app, lib = "registry_bad/app.yaml", "registry_bad/lib/lib.yaml"
    assert located(problems) == {
        (app, "app:processes", "host.workers"),
        (app, "app:broken", "source"),
        (app, "app:lost", "source"),
        (app, "app:wrong_import", "imports.helper"),
        (app, "app:wrong_import", "imports.gone"),
        (app, "app:strange", "kind"),
        (app, "app:service", "lifecycle.stop_timeout"),
        ("registry_bad/lib/dup.yaml", "app:lib_a", None),
        (lib, "app.lib:cyclic_a", "imports.b"),
        (lib, "app.lib:lib_a", "source"),
        ("registry_bad/syntax.yaml", None, None),
    }
    assert len(problems) == 11
    text = str(caught.value)
    assert text.splitlines() == [str(problem) for problem in problems]
    assert "registry_bad/broken.lua:5:" in text
    assert "app.lib:cyclic_a -> app.lib:cyclic_b -> app.lib:cyclic_a" in text


def test_problems_are_grouped_by_file_in_declaration_order():
    problems = check_app(APPS / "registry_bad")
    files = list(dict.fromkeys(problem.file for problem in problems))
    assert files == [
        "registry_bad/app.yaml",
        "registry_bad/lib/dup.yaml",
        "registry_bad/lib/lib.yaml",
        "registry_bad/syntax.yaml",
    ]
    assert [problem.entry for problem in problems if problem.file == "registry_bad/app.yaml"] == [
        "app:processes",
        "app:broken",
        "app:lost",
        "app:wrong_import",
        "app:wrong_import",
        "app:strange",
        "app:service",
    ]


def test_problem_text_names_file_entry_and_field():
    problem = Problem("app/main.yaml", "app:worker", "source", "file not found: app/worker.lua")
    assert str(problem) == "app/main.yaml: app:worker: field 'source': file not found: app/worker.lua"
    assert str(Problem("app/x.yaml", None, None, "YAML syntax error: bad", line=3)) == (
        "app/x.yaml:3: YAML syntax error: bad"
    )


def test_missing_app_directory(tmp_path):
    with pytest.raises(RegistryError, match="application directory not found"):
        load_app(tmp_path / "nope")


# --------------------------------------------------------------------------- one problem at a time


def test_yaml_syntax_error_has_file_and_line(tmp_path):
    app = write_app(tmp_path, {"main.yaml": "namespace: app\nentries:\n  - name: x\n    kind: [\n"})
    problem = only_problem(app)
    assert (problem.file, problem.entry, problem.line) == ("app/main.yaml", None, 5)
    assert problem.message.startswith("YAML syntax error")


def test_entries_must_be_a_list(tmp_path):
    app = write_app(tmp_path, {"main.yaml": "namespace: app\nentries: {name: x}\n"})
    problem = only_problem(app)
    assert (problem.file, problem.entry, problem.field) == ("app/main.yaml", None, "entries")
    assert "must be a list" in problem.message


@pytest.mark.parametrize("namespace", ['""', "a:b", "'a b'", "7", "[a]"])
def test_namespace_must_be_a_name(tmp_path, namespace):
    app = write_app(tmp_path, {"main.yaml": f"namespace: {namespace}\nentries: []\n"})
    assert only_problem(app).field == "namespace"


def test_entry_must_be_a_mapping(tmp_path):
    app = write_app(tmp_path, {"main.yaml": "namespace: app\nentries: [just-a-string]\n"})
    assert "entry #1 must be a mapping" in only_problem(app).message


def test_entry_without_name(tmp_path):
    app = write_app(tmp_path, {"main.yaml": """
        namespace: app
        entries:
          - {name: ok, kind: process.host}
          - {kind: process.host}
          - {name: "a:b", kind: process.host}
    """})
    problems = check_app(app)
    assert located(problems) == {("app/main.yaml", None, "name")}
    assert [p.message for p in problems] == [
        "entry #2 (kind process.host) has no name",
        "entry #3 (kind process.host) has an invalid name 'a:b' (no ':' or spaces)",
    ]


def test_entry_without_kind(tmp_path):
    app = write_app(tmp_path, {"main.yaml": "namespace: app\nentries: [{name: x}]\n"})
    problem = only_problem(app)
    assert (problem.entry, problem.field) == ("app:x", "kind")
    assert "missing kind" in problem.message and "process.lua" in problem.message


def test_unknown_kind_lists_known_kinds(tmp_path):
    app = write_app(tmp_path, {"main.yaml": "namespace: app\nentries: [{name: x, kind: process.go}]\n"})
    problem = only_problem(app)
    assert (problem.entry, problem.field) == ("app:x", "kind")
    assert "unknown kind 'process.go'" in problem.message
    for kind in ("process.host", "process.lua", "function.lua", "workflow.lua", "library.lua"):
        assert kind in problem.message


def test_duplicate_id_names_both_files(tmp_path):
    app = write_app(tmp_path, {
        "a.yaml": "namespace: app\nentries: [{name: x, kind: process.host}]\n",
        "b/b.yaml": "namespace: app\nentries: [{name: x, kind: process.host}]\n",
    })
    problem = only_problem(app)
    assert (problem.file, problem.entry) == ("app/b/b.yaml", "app:x")
    assert "first defined in app/a.yaml" in problem.message


def test_duplicate_id_in_one_file_keeps_the_first(tmp_path):
    app = write_app(tmp_path, {"a.yaml": """
        namespace: app
        entries:
          - {name: x, kind: process.host, host: {workers: 2}}
          - {name: x, kind: process.host, host: {workers: 3}}
    """})
    assert "duplicate id" in only_problem(app).message


def test_meta_must_be_a_mapping(tmp_path):
    app = write_app(tmp_path, {"a.yaml": "namespace: app\nentries: [{name: x, kind: process.host, meta: 3}]"})
    assert only_problem(app).field == "meta"


def lua_entry_app(tmp_path, extra: str, kind: str = "process.lua", files: dict | None = None) -> Path:
    body = textwrap.indent(textwrap.dedent(extra).strip(), "    ")
    yaml_text = f"namespace: app\nentries:\n  - name: e\n    kind: {kind}\n{body}\n"
    return write_app(tmp_path, {"app.yaml": yaml_text, "ok.lua": OK_LUA, **(files or {})})


def test_missing_source_file(tmp_path):
    app = lua_entry_app(tmp_path, "source: file://worker.lua\nmethod: main")
    problem = only_problem(app)
    assert str(problem) == "app/app.yaml: app:e: field 'source': file not found: app/worker.lua"


@pytest.mark.parametrize("source", ["worker.lua", "http://x/worker.lua", "7", "[file://ok.lua]"])
def test_source_must_be_a_file_url(tmp_path, source):
    app = lua_entry_app(tmp_path, f"source: {source}\nmethod: main")
    problem = only_problem(app)
    assert (problem.entry, problem.field) == ("app:e", "source")
    assert "file://" in problem.message


def test_source_and_method_are_required(tmp_path):
    app = lua_entry_app(tmp_path, "modules: [time]")
    assert [(p.field, p.message) for p in check_app(app)] == [
        ("source", "required field is missing"),
        ("method", "required field is missing"),
    ]


def test_library_has_no_method(tmp_path):
    app = lua_entry_app(tmp_path, "source: file://ok.lua", kind="library.lua")
    assert check_app(app) == []


def test_lua_syntax_error_with_line(tmp_path):
    broken = "local M = {}\n\nfunction M.main()\n  return 1 +\nend\n\nreturn M\n"
    app = lua_entry_app(tmp_path, "source: file://broken.lua\nmethod: main", files={"broken.lua": broken})
    problem = only_problem(app)
    assert (problem.file, problem.entry, problem.field) == ("app/app.yaml", "app:e", "source")
    assert problem.message == "Lua syntax error: app/broken.lua:5: unexpected symbol near 'end'"


def test_lua_binary_chunks_are_refused(tmp_path):
    app = lua_entry_app(tmp_path, "source: file://bin.lua\nmethod: main", files={"bin.lua": "\x1bLua"})
    assert "binary chunk" in only_problem(app).message


def test_lua_byte_order_mark_is_accepted(tmp_path):
    bom = "\ufeff" + OK_LUA
    app = lua_entry_app(tmp_path, "source: file://bom.lua\nmethod: main", files={"bom.lua": bom})
    assert check_app(app) == []


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ("method: 7", "method", "non-empty string"),
        ("modules: time", "modules", "must be a list"),
        ("modules: [time, http]", "modules[1]", "module 'http' is not provided by luactor"),
        ("modules: [time, jsn]", "modules[1]", "unknown module 'jsn' (did you mean 'json'?"),
        ("modules: [workflow]", "modules[0]", "module 'workflow' is only for workflow.lua entries"),
        ("modules: [7]", "modules[0]", "must be a module name"),
        ("imports: [app:lib]", "imports", "must be a mapping"),
        ("imports: {lib: 7}", "imports.lib", "entry id"),
        ("imports: {lib: 'two words'}", "imports.lib", "entry id"),
        ("imports: {lib: 'a:b:c'}", "imports.lib", "entry id"),
    ],
)
def test_wrong_field_types_of_lua_entries(tmp_path, fields, field, fragment):
    app = lua_entry_app(tmp_path, f"source: file://ok.lua\nmethod: main\n{fields}")
    problem = only_problem(app)
    assert (problem.entry, problem.field) == ("app:e", field)
    assert fragment in problem.message


def test_workflow_module_is_for_workflows_only(tmp_path):
    fields = "source: file://ok.lua\nmethod: main\nmodules: [workflow, funcs]"
    app = lua_entry_app(tmp_path, fields, kind="workflow.lua")
    assert check_app(app) == []


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ("host: {workers: four}", "host.workers", "must be an integer"),
        ("host: {workers: 0}", "host.workers", "at least 1"),
        ("host: {workers: true}", "host.workers", "must be an integer"),
        ("host: {max_processes: 0}", "host.max_processes", "at least 1"),
        ("host: {max_memory: lots}", "host.max_memory", "invalid size"),
        ("host: 4", "host", "must be a mapping"),
        ("lifecycle: {auto_start: 'yes'}", "lifecycle.auto_start", "true or false"),
    ],
)
def test_wrong_field_types_of_hosts(tmp_path, fields, field, fragment):
    app = lua_entry_app(tmp_path, fields, kind="process.host")
    problem = only_problem(app)
    assert (problem.entry, problem.field) == ("app:e", field)
    assert fragment in problem.message


def test_all_field_problems_of_one_entry_are_reported(tmp_path):
    fields = "host: {workers: 0, max_processes: x, max_memory: '-1'}\nlifecycle: {auto_start: 1}"
    app = lua_entry_app(tmp_path, fields, kind="process.host")
    fields = [problem.field for problem in check_app(app)]
    assert fields == ["host.workers", "host.max_processes", "host.max_memory", "lifecycle.auto_start"]


def test_reference_to_missing_entry_suggests_a_close_id(tmp_path):
    app = write_app(tmp_path, {"app.yaml": """
        namespace: app
        entries:
          - {name: util, kind: library.lua, source: file://ok.lua}
          - {name: e, kind: process.lua, source: file://ok.lua, method: main, imports: {u: app:utl, v: zz:zz}}
    """, "ok.lua": OK_LUA})
    problems = check_app(app)
    assert [(p.entry, p.field, p.message) for p in problems] == [
        ("app:e", "imports.u", "reference to missing entry app:utl (did you mean app:util?)"),
        ("app:e", "imports.v", "reference to missing entry zz:zz"),
    ]


def test_reference_to_entry_of_wrong_kind(tmp_path):
    app = write_app(tmp_path, {"app.yaml": """
        namespace: app
        entries:
          - {name: host, kind: process.host}
          - {name: worker, kind: process.lua, source: file://ok.lua, method: main}
          - {name: lib, kind: library.lua, source: file://ok.lua, imports: {h: app:host}}
          - {name: svc, kind: process.service, process: app:host, host: app:worker}
    """, "ok.lua": OK_LUA})
    assert [(p.entry, p.field, p.message) for p in check_app(app)] == [
        ("app:lib", "imports.h",
         "app:host is a process.host, expected process.lua or function.lua or workflow.lua or library.lua"),
        ("app:svc", "process", "app:host is a process.host, expected process.lua or workflow.lua"),
        ("app:svc", "host",
         "app:worker is a process.lua, expected process.host or workflow.host or temporal.worker"),
    ]


def test_bad_durations(tmp_path):
    app = write_app(tmp_path, {"app.yaml": """
        namespace: app
        entries:
          - {name: host, kind: process.host}
          - {name: worker, kind: process.lua, source: file://ok.lua, method: main}
          - name: svc
            kind: process.service
            process: app:worker
            host: app:host
            lifecycle:
              start_timeout: 10s
              stop_timeout: 10 seconds
              stable_threshold: -5s
              restart: {initial_delay: 1s, max_delay: 1.5m, jitter: 2}
    """, "ok.lua": OK_LUA})
    problems = check_app(app)
    assert [(p.entry, p.field) for p in problems] == [
        ("app:svc", "lifecycle.stop_timeout"),
        ("app:svc", "lifecycle.stable_threshold"),
        ("app:svc", "lifecycle.restart.jitter"),
    ]
    assert "invalid duration '10 seconds'" in problems[0].message
    assert "negative" in problems[1].message


def test_import_cycle_lists_the_cycle(tmp_path):
    app = write_app(tmp_path, {"app.yaml": """
        namespace: app
        entries:
          - {name: main, kind: process.lua, source: file://ok.lua, method: main, imports: {a: app:a}}
          - {name: a, kind: library.lua, source: file://ok.lua, imports: {b: app:b}}
          - {name: b, kind: library.lua, source: file://ok.lua, imports: {c: app:c}}
          - {name: c, kind: library.lua, source: file://ok.lua, imports: {a: app:a}}
          - {name: self, kind: library.lua, source: file://ok.lua, imports: {me: app:self}}
    """, "ok.lua": OK_LUA})
    problems = check_app(app)
    assert [(p.entry, p.field, p.message) for p in problems] == [
        ("app:a", "imports.b", "dependency cycle (imports): app:a -> app:b -> app:c -> app:a"),
        ("app:self", "imports.me", "dependency cycle (imports): app:self -> app:self"),
    ]


def test_requires_cycle_among_services(tmp_path):
    app = write_app(tmp_path, {"app.yaml": """
        namespace: app
        entries:
          - {name: host, kind: process.host}
          - {name: worker, kind: process.lua, source: file://ok.lua, method: main}
          - {name: db, kind: process.service, process: app:worker, host: app:host,
             lifecycle: {requires: [app:host, app:api]}}
          - {name: api, kind: process.service, process: app:worker, host: app:host,
             lifecycle: {requires: [app:db]}}
    """, "ok.lua": OK_LUA})
    problem = only_problem(app)
    assert (problem.entry, problem.field) == ("app:db", "lifecycle.requires[1]")
    assert problem.message == "dependency cycle (startup): app:db -> app:api -> app:db"


def test_multiple_problems_in_one_error(tmp_path):
    app = write_app(tmp_path, {
        "a.yaml": "namespace: app\nentries: [{name: x, kind: nope}, {name: y, kind: process.lua}]\n",
        "b.yaml": "namespace: app\nentries: [{name: x, kind: process.host}]\n",
        "c.yaml": "namespace: [\n",
    })
    with pytest.raises(RegistryError) as caught:
        load_app(app)
    assert [(p.file, p.entry, p.field) for p in caught.value.problems] == [
        ("app/a.yaml", "app:x", "kind"),
        ("app/a.yaml", "app:y", "source"),
        ("app/a.yaml", "app:y", "method"),
        ("app/b.yaml", "app:x", None),
        ("app/c.yaml", None, None),
    ]
    assert len(str(caught.value).splitlines()) == 5


# --------------------------------------------------------------------------- new kinds


def test_register_kind_with_the_general_field_vocabulary(tmp_path, private_kinds):
    register_kind("test.job", KindSpec((
        Field("after", ListOf(Ref("test.job")), ordering="jobs"),
        Field("runs_on", Ref("process.host"), required=True),
        Field("every", Duration(), default=SECOND),
        Field("retries.max", Integer(minimum=0), default=3),
    )))
    app = write_app(tmp_path, {"app.yaml": """
        namespace: app
        entries:
          - {name: host, kind: process.host}
          - {name: a, kind: test.job, runs_on: app:host, every: 1m, after: [app:b]}
          - {name: b, kind: test.job, runs_on: app:host, after: [app:a], retries: {max: -1}}
          - {name: c, kind: test.job, runs_on: app:a, every: often}
    """})
    assert [(p.entry, p.field, p.message) for p in check_app(app)] == [
        ("app:a", "after[0]", "dependency cycle (jobs): app:a -> app:b -> app:a"),
        ("app:b", "retries.max", "must be at least 0, got -1"),
        ("app:c", "every", "invalid duration 'often': expected a number at 'often'"),
        ("app:c", "runs_on", "app:a is a test.job, expected process.host"),
    ]
    (app / "app.yaml").write_text(
        "namespace: app\nentries:\n"
        "  - {name: host, kind: process.host}\n"
        "  - {name: a, kind: test.job, runs_on: app:host}\n"
    )
    job = load_app(app)["app:a"]
    assert (job.get("every"), job.get("retries.max")) == (SECOND, 3)


def test_supervision_kinds_validate(tmp_path):
    app = write_app(tmp_path, {"app.yaml": """
        namespace: app
        entries:
          - {name: host, kind: process.host}
          - {name: worker, kind: process.lua, source: file://ok.lua, method: main}
          - {name: root, kind: supervisor, strategy: one_for_all, intensity: 5, period: 10s}
          - {name: child, kind: supervisor, supervisor: app:root, strategy: sideways}
          - name: svc
            kind: process.service
            process: app:worker
            host: app:host
            supervisor: app:child
            args: [1, two, {three: 3}]
            lifecycle: {restart: {mode: permanent, max_attempts: 0, backoff_factor: 1.5}}
    """, "ok.lua": OK_LUA})
    problem = only_problem(app)
    assert (problem.entry, problem.field) == ("app:child", "strategy")


def test_supervisor_parent_cycle(tmp_path):
    app = write_app(tmp_path, {"app.yaml": """
        namespace: app
        entries:
          - {name: a, kind: supervisor, supervisor: app:b}
          - {name: b, kind: supervisor, supervisor: app:a}
    """})
    assert only_problem(app).message == "dependency cycle (startup): app:a -> app:b -> app:a"


# --------------------------------------------------------------------------- properties

names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
namespaces = st.from_regex(r"[a-z][a-z0-9.]{0,6}", fullmatch=True)
loader_settings = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def write_entries(app: Path, files: list[tuple[str, list[tuple[str, str]]]]) -> None:
    """Write definition files f0.yaml, f1.yaml, ... each with (name, kind) entries sharing ok.lua."""
    (app / "ok.lua").write_text(OK_LUA)
    for index, (namespace, entries) in enumerate(files):
        # quoted: YAML would read names like `on` or `no` as booleans
        lines = [f'namespace: "{namespace}"', "entries:"]
        for name, kind in entries:
            extra = "" if kind == "process.host" else ", source: file://ok.lua, method: main"
            lines.append(f'  - {{name: "{name}", kind: {kind}{extra}}}')
        (app / f"f{index:03d}.yaml").write_text("\n".join(lines) + "\n")


kinds = st.sampled_from(["process.host", "function.lua", "process.lua", "workflow.lua"])


@loader_settings
@given(st.lists(
    st.tuples(namespaces, st.lists(st.tuples(names, kinds), max_size=5, unique_by=lambda e: e[0])),
    max_size=4,
    unique_by=lambda f: f[0],
))
def test_valid_entry_sets_load_with_exactly_their_ids(files):
    with tempfile.TemporaryDirectory() as root:
        app = Path(root)
        write_entries(app, files)
        registry = load_app(app)
        assert list(registry.entries) == [f"{ns}:{name}" for ns, entries in files for name, _ in entries]
        for ns, entries in files:
            for name, kind in entries:
                assert registry[f"{ns}:{name}"].kind == kind


@loader_settings
@given(
    st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["x", "y", "z"])), min_size=1, max_size=12),
    st.integers(min_value=1, max_value=3),
)
def test_every_duplicate_id_is_reported(ids, file_count):
    with tempfile.TemporaryDirectory() as root:
        app = Path(root)
        # Spread entries over files that all use namespace "app", so ids collide within and across files.
        per_file: list[list[tuple[str, str]]] = [[] for _ in range(file_count)]
        for position, (prefix, name) in enumerate(ids):
            per_file[position % file_count].append((f"{prefix}{name}", "process.host"))
        write_entries(app, [("app", entries) for entries in per_file])
        problems = check_app(app)
        occurrences = [f"app:{name}" for entries in per_file for name, _ in entries]
        assert all("duplicate id" in p.message for p in problems)
        assert sorted(p.entry for p in problems) == sorted(
            entry_id for index, entry_id in enumerate(occurrences) if entry_id in occurrences[:index]
        )


def has_cycle(graph: dict[str, set[str]]) -> bool:
    """Kahn's algorithm: a graph is acyclic iff every node can be removed in topological order."""
    remaining = {node: set(targets) for node, targets in graph.items()}
    while True:
        leaves = [node for node, targets in remaining.items() if not targets]
        if not leaves:
            return bool(remaining)
        for leaf in leaves:
            del remaining[leaf]
        for targets in remaining.values():
            targets.difference_update(leaves)


@loader_settings
@given(st.dictionaries(
    st.sampled_from("abcde"),
    st.sets(st.sampled_from("abcde"), max_size=3),
    min_size=1,
))
def test_import_cycles_are_reported_exactly_when_present(graph):
    graph = {node: {t for t in targets if t in graph} for node, targets in graph.items()}
    with tempfile.TemporaryDirectory() as root:
        app = Path(root)
        (app / "ok.lua").write_text(OK_LUA)
        lines = ["namespace: app", "entries:"]
        for node, targets in graph.items():
            imports = ", ".join(f"{t}: app:{t}" for t in sorted(targets))
            lines.append(
                f"  - {{name: {node}, kind: library.lua, source: file://ok.lua, imports: {{{imports}}}}}"
            )
        (app / "app.yaml").write_text("\n".join(lines) + "\n")
        problems = check_app(app)
    assert bool(problems) == has_cycle(graph)
    for problem in problems:
        chain = problem.message.split(": ", 1)[1].split(" -> ")
        assert chain[0] == chain[-1] == problem.entry
        for source, target in itertools.pairwise(chain):
            assert target.removeprefix("app:") in graph[source.removeprefix("app:")]


def test_an_unquoted_yaml_boolean_name_is_explained(tmp_path):
    (tmp_path / "app.yaml").write_text("namespace: on\nentries:\n  - {name: x, kind: process.host}\n")
    problems = check_app(tmp_path)
    assert len(problems) == 1
    assert problems[0].field == "namespace"
    assert "quote" in problems[0].message and "True" in problems[0].message
