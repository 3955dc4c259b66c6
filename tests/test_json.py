"""The `json` module: encoding, decoding and JSON Schema validation, its
error kinds, and what it does with hostile values."""

import hashlib
import json
import re

import pytest
from conftest import LuaLibrary
from hypothesis import given
from hypothesis import strategies as st
from lupa import lua54

from actors import Node, lua_support
from actors.codec import MAX_VALUES

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class JsonLua(LuaLibrary):
    """`json` and `errors` as globals, validating through lua_support."""

    def __init__(self):
        super().__init__()
        # this state hands Python str; a worker hands bytes
        self.json = self.load("json", errors=self.errors, max_values=MAX_VALUES,
                              validate=lambda schema, data: lua_support.validate_json(schema.encode(), data.encode()))
        g = self.rt.globals()
        g.json, g.errors = self.json, self.errors

    def eval(self, expression, *args):
        return self.run("return " + expression, *args)

    def outcome(self, call, *args):
        """What `json.<call>` returns: value, and the kind and message of its error."""
        return self.run(f"""
            local value, err = json.{call}
            return value, err and err:kind(), err and err:message()
        """, *args)

    def to_lua(self, value):
        """Python JSON value -> Lua value; None becomes json.null."""
        if value is None:
            return self.json.null
        if isinstance(value, list):
            return self.rt.table_from([self.to_lua(v) for v in value])
        if isinstance(value, dict):
            return self.rt.table_from({k: self.to_lua(v) for k, v in value.items()})
        return value


@pytest.fixture(scope="module")
def lua():
    return JsonLua()


def from_lua(value):
    """Lua value -> Python, every table as a dict keyed as in Lua."""
    if lua54.lua_type(value) == "table":
        return {k: from_lua(v) for k, v in value.items()}
    return value


def assert_same(actual, expected):
    """Equality that also tells integers from floats."""
    assert type(actual) is type(expected), (actual, expected)
    if isinstance(expected, dict):
        assert actual.keys() == expected.keys()
        for key in expected:
            assert_same(actual[key], expected[key])
    elif isinstance(expected, list):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            assert_same(a, e)
    else:
        assert actual == expected


def json_strategy(scalars):
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=8), children, max_size=5),
        max_leaves=25,
    )


json_scalars = (
    st.booleans()
    | st.integers(INT64_MIN, INT64_MAX)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = json_strategy(st.none() | json_scalars)
json_values_without_null = json_strategy(json_scalars)  # null does not survive decoding


def nested(depth, inner="{}"):
    """Lua code making `depth` tables, each the only element of the one around it."""
    return f"""(function()
      local root = {inner}
      for _ = 2, {depth} do root = {{ root }} end
      return root
    end)()"""


# --------------------------------------------------------------------------
# encoding


@pytest.mark.parametrize("expression, text", [
    # the page's examples
    ('"hello"', '"hello"'),
    ("42", "42"),
    ("true", "true"),
    ("nil", "null"),
    ("{1, 2, 3}", "[1,2,3]"),
    ('{"a", "b"}', '["a","b"]'),
    ('{name = "Alice", age = 30}', '{"age":30,"name":"Alice"}'),
    ('{id = "ord-123", items = {{sku = "ABC", qty = 2}, {sku = "XYZ", qty = 1}}, total = 99.50}',
     '{"id":"ord-123","items":[{"qty":2,"sku":"ABC"},{"qty":1,"sku":"XYZ"}],"total":99.5}'),
    # and its rules
    ("{}", "[]"),
    ("{a = {}, b = {{}}}", '{"a":[],"b":[[]]}'),
    ("0/0", "null"),
    ("{math.huge, -math.huge, 0/0}", "[null,null,null]"),
    ("json.null", "null"),
    ("{1, json.null, 3}", "[1,null,3]"),
    ('{["1"] = "a", ["2"] = "b"}', '{"1":"a","2":"b"}'),
    # numbers
    ("math.maxinteger", "9223372036854775807"),
    ("1.0", "1.0"),
    ("0.1", "0.1"),
    ("-0.0", "-0.0"),
    ("1/3", "0.3333333333333333"),
    ("1e300", "1e+300"),
])
def test_encode_examples(lua, expression, text):
    assert lua.eval(f"json.encode({expression})") == text


def test_encode_escapes(lua):
    assert lua.eval(r'json.encode("q\" b\\ s/ \n\r\t\b\f \0\1\31\127 é😀")') == (
        r'"q\" b\\ s/ \n\r\t\b\f \u0000\u0001\u001f\u007f é😀"')


def test_encode_output_does_not_depend_on_insertion_order(lua):
    assert lua.run("""
        local a, b = {}, {}
        for i = 1, 200 do a["k" .. i] = i end
        for i = 200, 1, -1 do b["k" .. i] = i end
        return json.encode(a) == json.encode(b)
    """)


def test_encode_shared_subtables_are_not_cycles(lua):
    assert lua.eval("(function() local t = {1}; return json.encode({a=t, b={t, t}}) end)()") == (
        '{"a":[1],"b":[[1],[1]]}')


def test_encode_error_object_as_plain(lua):
    plain = json.loads(lua.eval('json.encode({e = errors.new{message="m", kind="Timeout"}})'))["e"]
    assert (plain["message"], plain["kind"]) == ("m", "Timeout")


@pytest.mark.parametrize("setup, value, fragment", [
    ("", "{f = print}", "cannot encode a function at $.f"),
    ("", "{1, {coroutine.create(print)}}", "cannot encode a thread at $[2][1]"),
    ("local c = {}; c.self = {list = {c}}", "c", "cycle: a table contains itself at $.self.list[1]"),
    ("", "{1, 2, x = 3}", "cannot encode a table with both numeric and string keys at $"),
    ("", "{a = {[0] = 1, b = 2}}", "cannot encode a table with both numeric and string keys at $.a"),
    ("", "{[1] = 'a', [3] = 'c'}", "cannot encode a sparse array (2 elements, highest index 3) at $"),
    ("", "{{1, nil, 3}}", "cannot encode a sparse array (2 elements, highest index 3) at $[1]"),
    ("", "{[0] = 'zero'}", "cannot encode a table with numeric key 0 (not an array index) at $"),
    ("", "{[-1] = 'x', [1] = 'y'}", "numeric key -1 (not an array index)"),
    ("", "{[1.5] = 1}", "numeric key 1.5 (not an array index)"),
    ("", "{a = {[true] = 1}}", "cannot encode a key of type boolean at $.a"),
    ("", "{[{}] = 1}", "cannot encode a key of type table at $"),
    ("", '{["odd key"] = "\\255"}', 'string is not valid UTF-8 at $["odd key"]'),
    ("", '{["\\255"] = 1}', 'string is not valid UTF-8 at $["\\xff"]'),
    ("", '{["a\\nb"] = {1, print}}', 'cannot encode a function at $["a\\nb"][2]'),
    ("", '{[string.rep("k", 50000000)] = print}', 'cannot encode a function at $["' + "k" * 64 + '..."]'),
    ("local t = setmetatable({}, {__metatable = false})", "{x = {t}}",
     "cannot encode a runtime object (a table with a protected metatable) at $.x[1]"),
])
def test_encode_failures_are_internal_errors_naming_the_path(lua, setup, value, fragment):
    result, kind, message = lua.run(f"""
        {setup}
        local result, err = json.encode({value})
        return result, err:kind(), err:message()
    """)
    assert result is None
    assert kind == "Internal"
    assert message.startswith("json.encode: ")
    assert fragment in message


def test_encode_nesting_limit_is_128_levels(lua):
    assert lua.eval(f"#json.encode({nested(128)})") == 2 * 128
    text, kind, message = lua.outcome(f"encode({nested(129)})")
    assert (text, kind) == (None, "Internal") and "nesting deeper than 128 levels" in message


def test_encode_user_metatables_do_not_hide_the_data(lua):
    """A class-like table encodes as its fields, read raw: no metamethod runs."""
    assert lua.run("""
        local t = setmetatable({a=1}, {
          __pairs = function() error("called __pairs") end,
          __index = function() error("called __index") end,
          __len = function() error("called __len") end,
        })
        return json.encode({t, t})
    """) == '[{"a":1},{"a":1}]'


@given(json_values)
def test_encode_is_read_by_python(lua, value):
    def expected(v):  # Lua has one empty table, and it encodes as []
        if isinstance(v, list):
            return [expected(x) for x in v]
        if isinstance(v, dict):
            return {k: expected(x) for k, x in v.items()} if v else []
        return v

    text = lua.json.encode(lua.to_lua(value))
    assert isinstance(text, str), text
    assert_same(json.loads(text), expected(value))


def significant_digits(number_text):
    mantissa = re.split("[eE]", number_text)[0]
    return mantissa.replace("-", "").replace(".", "").strip("0")


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_encode_floats_round_trip_exactly_and_shortly(lua, x):
    text = lua.json.encode(x)
    assert float(text) == x and isinstance(json.loads(text), float)
    ours, shortest = significant_digits(text), significant_digits(repr(x))
    assert len(ours) <= 17
    if len(shortest) <= 15 and (x == 0 or abs(x) >= 2.2250738585072014e-308):
        assert ours == shortest  # %.15g is the shortest form for normal numbers


# --------------------------------------------------------------------------
# decoding


def test_decode_the_pages_examples(lua):
    assert lua.run("""
        local user = json.decode('{"name":"Bob","active":true}')
        local items = json.decode('[10, 20, 30]')
        local response = json.decode([[
        {
            "status": "ok",
            "data": {
                "users": [
                    {"id": 1, "name": "Alice"},
                    {"id": 2, "name": "Bob"}
                ]
            }
        }
        ]])
        local data, err = json.decode("not valid json")
        return user.name, user.active, items[1], #items, response.data.users[1].name, data, err:kind()
    """) == ("Bob", True, 10, 3, "Alice", None, "Internal")


def test_decode_scalars_and_number_types(lua):
    assert lua.run("""
        local a = json.decode('[1, -0, 2.5, 1e2, 1E-2, 12345678901234567890, -9223372036854775808, "s", true, false]')
        local types = {}
        for i = 1, 7 do types[i] = math.type(a[i]) end
        return table.concat(types, " "), a[4], a[6], a[7], a[8], a[9], a[10]
    """) == ("integer integer float float float float integer", 100.0,
             12345678901234567890.0, INT64_MIN, "s", True, False)


def test_decode_nulls(lua):
    assert lua.run("""
        local v = json.decode('{"a": null, "list": [null, 2, null, 4, null], "b": 1}')
        local list = v.list
        return json.decode("null"), v.a, v.b, list[1], list[2], list[3], list[4], next(list, 4)
    """) == (None, None, 1, None, 2, None, 4, None)


def test_decode_strings_and_escapes(lua):
    assert lua.run(r"""
        return json.decode([["a\"b\\c\/d\b\f\n\r\t \u00e9 \u20AC \ud83d\ude00 é😀"]])
    """) == 'a"b\\c/d\b\f\n\r\t é € 😀 é😀'


def test_decode_lone_surrogates_become_replacement_characters(lua):
    assert lua.eval(r'json.decode([["\ud800 \udc00 \ud800\u0041 \ud83d"]])') == (
        "\ufffd \ufffd \ufffdA \ufffd")


def test_decode_objects(lua):
    assert lua.run("""
        local v = json.decode(' { "a" : { "b" : [ ] } , "a2": {}, "k": 1, "k": 2, "1": "one" } ')
        return next(v.a.b), next(v.a2), v.k, v["1"], v[1]
    """) == (None, None, 2, "one", None)


@pytest.mark.parametrize("text, fragment, line, column", [
    ("", "unexpected end of input", 1, 1),
    ("   ", "unexpected end of input", 1, 4),
    ("[1,]", "unexpected character ']'", 1, 4),
    ("[1 2]", "unexpected character '2'", 1, 4),
    ('{"a" 1}', "unexpected character '1'", 1, 6),
    ("{a:1}", "unexpected character 'a'", 1, 2),
    ('{"a":1,}', "unexpected character '}'", 1, 8),
    ("[1", "unexpected end of input", 1, 3),
    ('"abc', "unterminated string", 1, 1),
    ('"a\tb"', "control character in string", 1, 3),
    (r'"\x"', "invalid escape", 1, 2),
    (r'"\u12"', "invalid \\u escape", 1, 2),
    ("01", "leading zero in number", 1, 1),
    ("-01", "leading zero in number", 1, 2),
    ("1.", "digits expected after decimal point", 1, 1),
    ("1e+", "digits expected in exponent", 1, 1),
    ("-", "unexpected end of input", 1, 2),
    ("+1", "unexpected character '+'", 1, 1),
    (".5", "unexpected character '.'", 1, 1),
    ("nul", "unexpected character 'n'", 1, 1),
    ("truex", "unexpected character 'x'", 1, 5),
    ("NaN", "unexpected character 'N'", 1, 1),
    ("not valid json", "unexpected character 'n'", 1, 1),
    ("[1]\n  [2]", "unexpected character '['", 2, 3),
    ('{\n"a":\n  tru}', "unexpected character 't'", 3, 3),
])
def test_decode_failures_are_internal_errors_giving_the_position(lua, text, fragment, line, column):
    result, kind, message, details = lua.run("""
        local result, err = json.decode(...)
        return result, err:kind(), err:message(), err:details()
    """, text)
    assert result is None and kind == "Internal"
    assert message.startswith("json.decode: " + fragment)
    assert f"at line {line}, column {column}" in message
    assert (details.line, details.column) == (line, column)


def test_decode_rejects_invalid_utf8_and_non_strings(lua):
    assert lua.run("""
        local _, bad_utf8 = json.decode('["ok", "\\255"]')
        local _, not_string = json.decode(42)
        return bad_utf8:kind(), bad_utf8:message(), not_string:kind(), not_string:message()
    """) == ("Internal", "json.decode: invalid UTF-8 at line 1, column 9 (byte 9)",
             "Invalid", "json.decode: expected a string, got number")


def test_decode_nesting_limit_is_128_levels(lua):
    assert lua.eval('type(json.decode(string.rep("[", 128) .. string.rep("]", 128)))') == "table"
    value, kind, message = lua.outcome('decode(string.rep("[", 129) .. string.rep("]", 129))')
    assert (value, kind) == (None, "Internal")
    assert message == "json.decode: nesting deeper than 128 levels at line 1, column 129 (byte 129)"


def test_decode_of_50_mb_of_brackets_stops_at_the_limit(lua):
    value, kind, message = lua.outcome('decode(string.rep("[", 50000000))')
    assert (value, kind) == (None, "Internal") and "nesting deeper than 128 levels" in message


@given(json_values, st.booleans())
def test_decode_reads_python_output(lua, value, ensure_ascii):
    def expected(v):  # null drops object members and leaves holes in arrays
        if isinstance(v, list):
            return {i: expected(x) for i, x in enumerate(v, 1) if x is not None}
        if isinstance(v, dict):
            return {k: expected(x) for k, x in v.items() if x is not None}
        return v

    text = json.dumps(value, ensure_ascii=ensure_ascii, indent=None if ensure_ascii else 1)
    assert_same(from_lua(lua.json.decode(text)), expected(value))


@given(json_values_without_null)
def test_decode_of_encode_is_identity_in_lua(lua, value):
    assert lua.run("""
        local value = ...
        local text = assert(json.encode(value))
        local decoded, err = json.decode(text)
        return err == nil and json.encode(decoded) == text
    """, lua.to_lua(value))


# --------------------------------------------------------------------------
# schema validation

USER_SCHEMA = """{
    type = "object",
    properties = {
        name = {type = "string", minLength = 1},
        email = {type = "string", format = "email"},
        age = {type = "integer", minimum = 0, maximum = 150}
    },
    required = {"name", "email"}
}"""


def test_validate_the_pages_examples(lua):
    valid, kind, message = lua.outcome(f'validate({USER_SCHEMA}, {{name = "Alice", email = "alice@example.com", age = 30}})')
    assert (valid, kind) == (True, None)
    valid, kind, message = lua.outcome(f'validate({USER_SCHEMA}, {{name = "", email = "not-an-email"}})')
    assert (valid, kind) == (False, "Invalid")
    assert message.startswith("json.validate: validation failed: ")
    assert "$.email: 'not-an-email' is not a 'email'" in message and "$.name: '' should be non-empty" in message
    assert lua.outcome("""validate('{"type":"number","minimum":0}', 42)""") == (True, None, None)


def test_validate_string_the_pages_example(lua):
    schema = '{type = "object", properties = {action = {type = "string", enum = {"create", "update", "delete"}}}, ' \
             'required = {"action"}}'
    assert lua.outcome(f"""validate_string({schema}, '{{"action":"create","data":{{}}}}')""") == (True, None, None)
    valid, kind, message = lua.outcome(f"""validate_string({schema}, '{{"action":"remove"}}')""")
    assert (valid, kind) == (False, "Invalid") and "$.action: 'remove' is not one of" in message


def test_validate_string_keeps_what_lua_cannot_tell_apart(lua):
    """Empty objects and arrays differ in JSON text; a Lua table would make both []."""
    assert lua.outcome("""validate_string('{"type": "object"}', '{}')""") == (True, None, None)
    assert lua.outcome("""validate('{"type": "array"}', {})""") == (True, None, None)
    assert lua.outcome("""validate('{"type": "object"}', {})""")[:2] == (False, "Invalid")


@pytest.mark.parametrize("call, kind, fragment", [
    # the schema does not compile
    ("validate('{\"type\": 5}', 1)", "Invalid", "json.validate: schema cannot be compiled: $.type: 5 is not valid"),
    ("validate('not json', 1)", "Invalid", "json.validate: schema is not valid JSON"),
    ("validate({type = print}, 1)", "Invalid", "json.validate: schema cannot be compiled: cannot encode a function"),
    ("validate(42, 1)", "Invalid", "json.validate: schema must be a table or a string, got number"),
    ("validate({['$ref'] = '#/missing'}, 1)", "Invalid", "json.validate: schema cannot be used: PointerToNowhere"),
    ("validate({['$ref'] = '#'}, 1)", "Invalid", "json.validate: schema cannot be compiled: it nests or refers"),
    # the data cannot be validated
    ("validate('{}', {f = print})", "Internal", "json.validate: data: cannot encode a function at $.f"),
    ("validate_string('{}', '[1,')", "Internal", "json.validate_string: data is not valid JSON"),
    ("validate_string('{}', 'NaN')", "Internal", "json.validate_string: data is not valid JSON: NaN is not JSON"),
    ("validate_string('{}', string.rep('[', 129) .. string.rep(']', 129))", "Internal",
     "json.validate_string: data is nested deeper than 128 levels"),
    ("validate_string('{}', string.rep('[', 5000000))", "Internal", "json.validate_string: data is not valid JSON"),
    ("validate_string('{}', {})", "Invalid", "json.validate_string: json_str must be a string, got table"),
    ("validate_string(nil, '1')", "Invalid", "json.validate_string: schema must be a table or a string, got nil"),
])
def test_validate_failures(lua, call, kind, fragment):
    result = lua.outcome(call)
    assert result[:2] == (False, kind) and result[2].startswith(fragment), result


def test_validation_messages_stay_short(lua):
    numbers = "'[' .. string.rep('1,', 10000) .. '1]'"
    valid, kind, message = lua.outcome(f"""validate_string('{{"items": {{"type": "string"}}}}', {numbers})""")
    assert (valid, kind) == (False, "Invalid") and message.endswith("; and more")
    assert message.count("is not of type 'string'") == 5
    valid, kind, message = lua.outcome("validate({type = 'integer'}, string.rep('x', 1000000))")
    assert (valid, kind) == (False, "Invalid") and len(message) < 400


def test_references_never_leave_the_schema(lua, monkeypatch):
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("jsonschema went to the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    for ref in ["http://127.0.0.1:9/schema.json", "file:///etc/passwd"]:
        result = lua.outcome("validate({['$ref'] = ...}, 1)", ref)
        assert result[:2] == (False, "Invalid") and "Unresolvable" in result[2]
    # local references and the drafts' meta-schemas resolve
    assert lua.outcome("""validate({['$defs'] = {n = {type = 'number'}}, ['$ref'] = '#/$defs/n'}, 1)""") == (True, None, None)
    assert lua.outcome("""validate({['$schema'] = 'http://json-schema.org/draft-07/schema#', type = 'number'}, 'x')""")[:2] == (
        False, "Invalid")


def test_schemas_are_compiled_once_per_content(lua, monkeypatch):
    compiled = []
    compile_schema = lua_support._compile

    def counting(text):
        compiled.append(text)
        return compile_schema(text)

    monkeypatch.setattr(lua_support, "_compile", counting)
    monkeypatch.setattr(lua_support, "_validators", lua_support.OrderedDict())
    lua.run("""
        for i = 1, 3 do
          assert(json.validate({type = "object", required = {"a"}}, {a = i}))
          assert(json.validate('{"required":["a"],"type":"object"}', {a = i}))
        end
    """)
    assert compiled == [b'{"required":["a"],"type":"object"}']


def test_the_schema_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(lua_support, "_validators", lua_support.OrderedDict())
    for i in range(lua_support._CACHED_SCHEMAS + 10):
        assert lua_support.validate_json(f'{{"maximum": {i}}}'.encode(), b"0") == (None, None)
    big = b'{"description": "' + b"x" * lua_support._CACHED_SCHEMA_SIZE + b'"}'
    assert lua_support.validate_json(big, b"0") == (None, None)
    kept = lua_support._validators
    assert len(kept) == lua_support._CACHED_SCHEMAS
    assert hashlib.sha256(b'{"maximum": 0}').digest() not in kept  # the least recently used went first
    assert hashlib.sha256(f'{{"maximum": {lua_support._CACHED_SCHEMAS + 9}}}'.encode()).digest() in kept
    assert hashlib.sha256(big).digest() not in kept


def test_messages_with_lone_surrogates_cross_as_utf8():
    kind, message = lua_support.validate_json(b'{"additionalProperties": false}', b'{"\\ud800": 1}')
    assert kind == b"Invalid" and "\\ud800" in message.decode()


# --------------------------------------------------------------------------
# hostile values, in a process: its error, and the node keeps serving

HOSTILE = """
local json = require("json")
local funcs = require("funcs")
local time = require("time")

local raising = {
  __index = function() error("__index ran") end, __newindex = function() error("__newindex ran") end,
  __len = function() error("__len ran") end, __tostring = function() error("__tostring ran") end,
  __pairs = function() error("__pairs ran") end, __eq = function() error("__eq ran") end,
  __lt = function() error("__lt ran") end, __le = function() error("__le ran") end,
  __concat = function() error("__concat ran") end, __call = function() error("__call ran") end,
}
local looping = {}
looping.__index = function(t, k) while true do end end
looping.__pairs = looping.__index
looping.__len = looping.__index

-- what each call returns: the value, or the error's kind
local function outcome(value, err)
  if err ~= nil then return err:kind() end
  return value
end

local function main()
  local out = {}
  local hostile = setmetatable({ a = 1 }, raising)
  local loops = setmetatable({ 1, 2 }, looping)
  out.raising = outcome(json.encode({ hostile, hostile }))
  out.looping = outcome(json.encode(loops))
  out.raising_key = outcome(json.encode({ [hostile] = 1 }))
  local cycle = { }
  cycle.me = cycle
  out.cycle = outcome(json.encode(cycle))
  local deep = {}
  for _ = 1, 10000 do deep = { deep } end
  out.deep = outcome(json.encode(deep))
  out.deep_decode = outcome(json.decode(string.rep("[", 10000) .. string.rep("]", 10000)))
  out.brackets = outcome(json.decode(string.rep("[", 50000000)))
  out.huge = #json.encode({ string.rep("é", 5000000) })
  out.channel = outcome(json.encode({ ch = channel.new(1) }))
  out.future = outcome(json.encode({ funcs.async("test:echo", 1) }))
  out.time = outcome(json.encode(time.now()))
  out.nan_value = outcome(json.encode({ x = 0 / 0 }))
  out.nan_key = pcall(function() return { [0 / 0] = 1 } end)  -- Lua refuses before json sees it
  out.decode_hostile = outcome(json.decode(hostile))
  out.validate_hostile_schema = outcome(json.validate(hostile, 1))
  out.validate_hostile_data = outcome(json.validate("{}", loops))
  out.validate_string_hostile = outcome(json.validate_string("{}", hostile))
  out.invalid_utf8 = outcome(json.validate_string("{}", '"\\255"'))
  out.endless_ref = outcome(json.validate('{"$ref": "#"}', 1))
  return out
end

return { main = main }
"""


async def test_hostile_values_fail_only_the_call(app):
    app.lua("hostile", HOSTILE, modules=["json", "funcs", "time"])
    app.body("echo", "return ...", kind="function.lua")
    app.body("steady", "return json.encode({ ok = true })", modules=["json"], required=["json"])
    async with Node.open(app.root) as node:
        out = await node.exec("test:hostile", app.host)
        assert await node.exec("test:steady", app.host) == '{"ok":true}'
    assert out == {
        "raising": '[{"a":1},{"a":1}]', "looping": "[1,2]", "raising_key": "Internal", "cycle": "Internal",
        "deep": "Internal", "deep_decode": "Internal", "brackets": "Internal", "huge": 10_000_004,
        "channel": "Internal", "future": "Internal", "time": "Internal", "nan_value": '{"x":null}',
        "nan_key": False, "decode_hostile": "Invalid", "validate_hostile_schema": True,
        "validate_hostile_data": True, "validate_string_hostile": "Invalid", "invalid_utf8": "Internal",
        "endless_ref": "Invalid",
    }
