-- wrk script for the ingest benchmark: POST pre-signed, unique webhook deliveries.
--
-- Computing HMAC-SHA1 in wrk's LuaJIT is impractical, so the benchmark pre-generates the
-- signed bodies into a file (one "signature<TAB>body" per line). wrk runs one Lua state per
-- thread; thread k of n sends lines k, k+n, k+2n, ... so no two threads send the same body.
-- A thread that runs out of lines starts again from its first one; done() reports how many
-- times that happened (the driver makes the file large enough that it does not).
--
-- Environment: BENCH_BODIES (the file), BENCH_PATH (the URL path), BENCH_THREADS (n).

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
