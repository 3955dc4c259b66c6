-- Tests of the order saga, run by `luactor test examples/orders`, each in its own
-- process. The sagas run as workflows of their own ids ("test-..."), a new run
-- each time, beside the demo's orders; the desk running in the node approves them.
local funcs = require("funcs")

local function check(ok, message)
  if not ok then error(message, 2) end
end

local function shop()
  check(funcs.call("orders:reserve", { id = 7, amount = 10 }) == "R-7", "reserve names the order")
  check(funcs.call("orders:charge", { id = 7, amount = 500 }) == "P-7", "a charge of 500 goes through")
  local payment, declined = funcs.call("orders:charge", { id = 8, amount = 501 })
  check(payment == nil and declined:kind() == errors.INVALID, "a charge over 500 is declined")
  check(declined:message() == "card declined for 501", "the decline says why: " .. declined:message())
  check(funcs.call("orders:release", "R-8") == "released R-8", "release names the reservation")
  check(funcs.call("orders:ship", { id = 7 }) == "T-7", "ship gives a tracking number")
end

-- Run one order as a workflow of id "test-<name>" to its end; its result.
local function saga(name, order)
  local runner = process.with_options({ ["workflow.id"] = "test-" .. name,
                                        ["workflow.id_conflict_policy"] = "terminate_existing" })
  return assert(runner:exec("orders:order", "orders:workflows", order))
end

local function an_order_ships()
  local result = saga("shipped", { id = 101, amount = 130 })
  check(result.status == "shipped", "status " .. tostring(result.status))
  check(result.tracking == "T-101" and result.approved_by == "the desk", "shipped by the desk's approval")
end

local function a_declined_order_releases_its_stock()
  local result = saga("declined", { id = 102, amount = 900 })
  check(result.status == "cancelled", "status " .. tostring(result.status))
  check(result.reason == "card declined for 900", "reason " .. tostring(result.reason))
end

return { shop = shop, an_order_ships = an_order_ships,
         a_declined_order_releases_its_stock = a_declined_order_releases_its_stock }
