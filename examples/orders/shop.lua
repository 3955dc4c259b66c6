-- The shop's side effects. In a workflow each call runs once per history;
-- after a crash a call whose result was not stored runs again with the same
-- ctx.get("idempotency_key"), so a real service can deduplicate it.
local function reserve(order)
  return "R-" .. order.id
end

local function charge(order)
  if order.amount > 500 then
    return nil, errors.new({ kind = errors.INVALID, message = "card declined for " .. order.amount })
  end
  return "P-" .. order.id
end

local function release(reservation)
  return "released " .. reservation
end

local function ship(order)
  return "T-" .. order.id
end

return { reserve = reserve, charge = charge, release = release, ship = ship }
