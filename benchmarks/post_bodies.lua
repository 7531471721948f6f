-- wrk script for the ingest benchmark: POST pre-signed, unique webhook deliveries.
--
-- Computing HMAC-SHA1 in wrk's LuaJIT is impractical, so the benchmark pre-generates the
-- signed bodies into a file (one "signature<TAB>body" per line). wrk runs one Lua state per
-- thread; thread k of n sends lines k, k+n, k+2n, ... so no two threads send the same body.
-- A thread that runs out of lines starts again from its first one; done() reports how many
-- times that happened (the driver makes the file large enough that it does not).
--
-- Environment: BENCH_BODIES (the file), BENCH_PATH (the URL path), BENCH_THREADS (n), and
-- BENCH_RATE (optional): requests per second to offer in all, paced by wrk's delay() hook.
--
-- Pacing (the celery-e2e phase): each thread offers BENCH_RATE / n requests per second on a
-- fixed schedule of slots, one every 1000 * n / BENCH_RATE ms on the monotonic clock (read
-- through LuaJIT's FFI: wrk's Lua has no sub-second clock). delay() gives each request the
-- next free slot: a slot missed because every connection was busy is not caught up later in
-- a burst, so the offered rate is a ceiling the server may fall short of (the driver reports
-- the achieved rate). wrk calls delay() only when the script defines it, so unpaced runs
-- (BENCH_RATE unset or empty) are exactly as before.

local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local n = tonumber(os.getenv("BENCH_THREADS"))
  local path = os.getenv("BENCH_PATH")
  requests = {}
  local i = 0
  for line in io.lines(os.getenv("BENCH_BODIES")) do
    if i % n == id then
      local tab = line:find("\t", 1, true)
      local signature, body = line:sub(1, tab - 1), line:sub(tab + 1)
      requests[#requests + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/json",
        ["X-Spark-Signature"] = signature,
      }, body)
    end
    i = i + 1
  end
  index = 0
  wraps = 0
end

function request()
  index = index + 1
  if index > #requests then
    index = 1
    wraps = wraps + 1
  end
  return requests[index]
end

local rate = tonumber(os.getenv("BENCH_RATE") or "")
if rate ~= nil and rate > 0 then
  local ffi = require("ffi")
  ffi.cdef([[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clk_id, bench_timespec *tp);
  ]])
  local ts = ffi.new("bench_timespec")
  local CLOCK_MONOTONIC = 1

  local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  end

  local interval = 1000 * tonumber(os.getenv("BENCH_THREADS")) / rate
  local next_slot = nil

  function delay()
    local now = now_ms()
    local slot = next_slot or now
    if slot < now then
      slot = now
    end
    next_slot = slot + interval
    return slot - now
  end
end

function done(summary, latency, requests)
  local total_wraps = 0
  for _, thread in ipairs(threads) do
    total_wraps = total_wraps + (thread:get("wraps") or 0)
  end
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "errors_connect": %d, '
      .. '"errors_read": %d, "errors_write": %d, "errors_status": %d, "errors_timeout": %d, '
      .. '"latency_p50_us": %d, "latency_p90_us": %d, "latency_p99_us": %d, '
      .. '"latency_mean_us": %.1f, "latency_max_us": %d, "wraps": %d}\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max, total_wraps))
end
