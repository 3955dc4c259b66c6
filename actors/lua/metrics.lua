-- The `metrics` module: counters, gauges and histograms that Lua code
-- records and the node exposes (actors/observe/).
--
-- A call checks its arguments and adds to an aggregate kept here; the
-- aggregates leave for Python once per scheduler slice (`take`), so an
-- increment costs no crossing. Every function returns `true`, or `false`
-- and an error: bad input is Invalid, a full metric table is RateLimited,
-- and a node without the collector (prometheus-client not installed) is
-- Internal. Nothing here raises, and labels are read raw: a label table
-- with a metatable is refused, never asked.
--
-- A metric's kind and label names are fixed by its first use on this
-- host. A Lua process could otherwise fill the node's memory with series,
-- so a metric holds at most MAX_SERIES label sets and a host at most
-- MAX_HOST_SERIES in all; past that, new label sets are refused (the
-- series already there keep working).
return function(deps)
  local errors = deps.errors
  local type, next, getmetatable, tostring = type, next, getmetatable, tostring
  local mtype, find, concat, sort = math.type, string.find, table.concat, table.sort
  local huge = math.huge

  local MAX_SERIES = 1000        -- label sets of one metric, per host
  local MAX_HOST_SERIES = 10000  -- label sets of all metrics, per host
  local MAX_LABELS = 16          -- labels of one series
  local MAX_NAME = 200           -- bytes of a metric or label name
  local MAX_VALUE = 256          -- bytes of a label value
  local RESERVED = "luactor_"    -- prefix of the runtime's own metrics

  -- `available` and the histogram buckets' upper bounds (the last, +Inf,
  -- left out) are set by `configure` when the node has a collector.
  local M = { available = false, buckets = {} }
  local metrics = {}        -- name -> { kind =, labels = {sorted names}, n = series count, series = {key = true} }
  local host_series = 0
  local pending, n_pending = {}, 0   -- updates since the last take, in first-touched order
  local by_key = {}                  -- series key -> its pending update

  local function invalid(fname, message)
    return false, errors.new({ kind = errors.INVALID, message = "metrics." .. fname .. ": " .. message })
  end

  local function show(v)
    if type(v) == "string" then return "'" .. v .. "'" end
    if type(v) == "number" then return tostring(v) end
    return "a " .. type(v)
  end

  local function check_name(fname, name)
    if type(name) ~= "string" then return invalid(fname, "name must be a string, got " .. show(name)) end
    if #name == 0 or #name > MAX_NAME or not find(name, "^[%a_:][%w_:]*$") then
      return invalid(fname, "name " .. show(name) .. " is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*, at most " ..
        MAX_NAME .. " bytes)")
    end
    if name:sub(1, #RESERVED) == RESERVED then
      return invalid(fname, "name " .. show(name) .. " is reserved: names starting with " .. RESERVED ..
        " are the runtime's own")
    end
    return true
  end

  local function check_value(fname, value, non_negative)
    if type(value) ~= "number" then return invalid(fname, "value must be a number, got " .. show(value)) end
    if value ~= value or value == huge or value == -huge then
      return invalid(fname, "value must be a finite number, got " .. tostring(value))
    end
    if non_negative and value < 0 then
      return invalid(fname, "a counter only goes up: value must not be negative, got " .. tostring(value))
    end
    return true
  end

  --- The sorted label names and their values of `labels` (nil: none), or
  --- false and an error. Read with `next` only.
  local function read_labels(fname, labels)
    if labels == nil then return {}, {} end
    if type(labels) ~= "table" then return invalid(fname, "labels must be a table, got " .. show(labels)) end
    if getmetatable(labels) ~= nil then return invalid(fname, "labels must be a plain table, not one with a metatable") end
    local names, count = {}, 0
    for k, v in next, labels do
      count = count + 1
      if count > MAX_LABELS then return invalid(fname, "more than " .. MAX_LABELS .. " labels") end
      if type(k) ~= "string" or #k > MAX_NAME or not find(k, "^[%a_][%w_]*$") or k:sub(1, 2) == "__" then
        return invalid(fname, "label name " .. show(k) .. " is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)")
      end
      if type(v) ~= "string" then
        return invalid(fname, "label " .. k .. " must be a string, got " .. show(v))
      end
      if #v > MAX_VALUE then
        return invalid(fname, "label " .. k .. " is longer than " .. MAX_VALUE .. " bytes")
      end
      names[count] = k
    end
    sort(names)
    local values = {}
    for i = 1, count do values[i] = labels[names[i]] end -- (raw: no metatable)
    return names, values
  end

  local function same_names(a, b)
    if #a ~= #b then return false end
    for i = 1, #a do if a[i] ~= b[i] then return false end end
    return true
  end

  --- The pending update of the series `name{labels}` of `kind`, made on
  --- first use; or false and an error.
  local function series(fname, kind, name, labels)
    if not M.available then
      return false, errors.new({ kind = errors.INTERNAL,
        message = "metrics." .. fname .. ": collector not available (install luactor[metrics])" })
    end
    local ok, e = check_name(fname, name)
    if not ok then return false, e end
    local names, values = read_labels(fname, labels)
    if not names then return false, values end
    local metric = metrics[name]
    if metric == nil then
      metric = { kind = kind, labels = names, n = 0, series = {} }
    elseif metric.kind ~= kind then
      return invalid(fname, "metric '" .. name .. "' is a " .. metric.kind .. ", not a " .. kind)
    elseif not same_names(metric.labels, names) then
      return invalid(fname, "metric '" .. name .. "' has the labels {" .. concat(metric.labels, ", ") ..
        "}, got {" .. concat(names, ", ") .. "}")
    end
    local key = name .. "\0" .. concat(values, "\0")
    if not metric.series[key] then
      if metric.n >= MAX_SERIES or host_series >= MAX_HOST_SERIES then
        local limit = metric.n >= MAX_SERIES and (MAX_SERIES .. " label sets, the most one metric may have")
          or (MAX_HOST_SERIES .. " label sets in all, the most a host may hold")
        return false, errors.new({ kind = errors.RATE_LIMITED,
          message = "metrics." .. fname .. ": metric '" .. name .. "' not recorded: this host holds " .. limit })
      end
      metrics[name] = metric
      metric.series[key] = true
      metric.n = metric.n + 1
      host_series = host_series + 1
    end
    local update = by_key[key]
    if update == nil then
      update = { kind = kind, name = name, labels = names, values = values }
      by_key[key] = update
      n_pending = n_pending + 1
      pending[n_pending] = update
    end
    return update
  end

  local api = {}

  function api.counter_add(name, value, labels)
    local ok, e = check_value("counter_add", value, true)
    if not ok then return false, e end
    local update
    update, e = series("counter_add", "counter", name, labels)
    if not update then return false, e end
    update.add = (update.add or 0) + value
    return true
  end

  function api.counter_inc(name, labels)
    local update, e = series("counter_inc", "counter", name, labels)
    if not update then return false, e end
    update.add = (update.add or 0) + 1
    return true
  end

  function api.gauge_set(name, value, labels)
    local ok, e = check_value("gauge_set", value)
    if not ok then return false, e end
    local update
    update, e = series("gauge_set", "gauge", name, labels)
    if not update then return false, e end
    update.set, update.add = value, 0
    return true
  end

  local function gauge_step(fname, step)
    return function(name, labels)
      local update, e = series(fname, "gauge", name, labels)
      if not update then return false, e end
      update.add = (update.add or 0) + step
      return true
    end
  end
  api.gauge_inc = gauge_step("gauge_inc", 1)
  api.gauge_dec = gauge_step("gauge_dec", -1)

  --- Observations are counted into the buckets here (their upper bounds,
  --- `M.buckets`, come from Python with `configure`), so a loop of them
  --- holds no more than one count per bucket.
  function api.histogram(name, value, labels)
    local ok, e = check_value("histogram", value)
    if not ok then return false, e end
    local update
    update, e = series("histogram", "histogram", name, labels)
    if not update then return false, e end
    local counts = update.counts
    if counts == nil then
      counts = {}
      for i = 1, #M.buckets + 1 do counts[i] = 0 end
      update.counts, update.sum = counts, 0
    end
    local bounds, i = M.buckets, 1
    while bounds[i] and value > bounds[i] do i = i + 1 end
    counts[i] = counts[i] + 1
    update.sum = update.sum + value
    return true
  end

  M.api = api

  --- The updates since the last take (nil when there are none), as a list
  --- of `{kind, name, labels, values, add, set, counts, sum}`: `counts`
  --- per bucket (the last past every bound), not cumulative.
  function M.take()
    if n_pending == 0 then return nil end
    local taken = pending
    pending, n_pending, by_key = {}, 0, {}
    return taken
  end

  return M
end
