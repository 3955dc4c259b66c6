-- Skynet: a tree of processes, ten children each, n leaves numbered 0..n-1;
-- every node sums its children's replies.  n is a power of ten.
local time = require("time")

local function node(parent, num, size, host)
  if size == 1 then
    process.send(parent, "sum", num)
    return
  end
  local sums = process.listen("sum")
  local me = process.pid()
  size = size // 10
  for i = 0, 9 do
    process.spawn("bench:skynet_node", host, me, num + i * size, size, host)
  end
  local total = 0
  for _ = 1, 10 do total = total + sums:receive() end
  process.send(parent, "sum", total)
end

local function driver(n, host)
  local sums = process.listen("sum")
  local t0 = time.now():unix_nano()
  process.spawn("bench:skynet_node", host, process.pid(), 0, n, host)
  local total = sums:receive()
  local elapsed_ns = time.now():unix_nano() - t0
  assert(total == n * (n - 1) // 2, "skynet sum is wrong: " .. tostring(total))
  return { elapsed_ns = elapsed_ns, work = n }
end

return { driver = driver, node = node }
