-- wrk script: POST JSON bodies read from $WRK_BODIES (one JSON document per line), round robin,
-- and print one JSON summary line (requests, errors, latency percentiles) for serving_bench.py.
local bodies = {}
local counter = 0

local function load_bodies()
  local path = os.getenv("WRK_BODIES")
  for line in io.lines(path) do
    if #line > 0 then
      bodies[#bodies + 1] = line
    end
  end
end

function init(args)
  load_bodies()
end

function request()
  counter = counter + 1
  local body = bodies[(counter % #bodies) + 1]
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "non_2xx": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
