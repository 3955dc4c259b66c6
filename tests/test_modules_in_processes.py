"""The built-in modules as a process sees them through `require`."""

import re
import uuid

from actors import Node

SOURCE = """
local uuid = require("uuid")
local json = require("json")

local function main()
  local v4, v7 = uuid.v4(), uuid.v7()
  local later = uuid.v7()
  local encoded = json.encode({ ids = { v4, v7 }, n = 3 })
  local decoded = json.decode(encoded)
  return {
    v4 = v4, v7 = v7, ordered = v7 < later,
    valid = uuid.validate(v4) and uuid.validate(v7) and not uuid.validate("nope"),
    roundtrip = decoded.ids[1] == v4 and decoded.n == 3,
    encoded = encoded,
  }
end

return { main = main }
"""


async def test_uuid_and_json_inside_a_process(app):
    app.lua("mods", SOURCE, modules=["uuid", "json"])
    async with Node.open(app.root) as node:
        out = await node.exec("test:mods", app.host)
    assert uuid.UUID(out["v4"]).version == 4
    assert uuid.UUID(out["v7"]).version == 7
    assert out["ordered"] and out["valid"] and out["roundtrip"]
    assert re.fullmatch(r'\{"ids":\["[0-9a-f-]{36}","[0-9a-f-]{36}"\],"n":3\}', out["encoded"])
