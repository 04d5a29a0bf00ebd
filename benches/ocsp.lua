-- wrk script for the status benchmark (benches/status.rs): each request asks about a
-- certificate picked at random from a file with one request per line.
--   wrk ... -s ocsp.lua URL -- FILE get          lines are GET paths (RFC 5019)
--   wrk ... -s ocsp.lua URL -- FILE post PATH    lines are DER OCSPRequests in hex, POSTed to PATH
local items = {}
local post_path = nil
local headers = { ["Content-Type"] = "application/ocsp-request" }

local function unhex(h)
  return (h:gsub("..", function(b) return string.char(tonumber(b, 16)) end))
end

function init(args)
  if args[2] == "post" then
    post_path = args[3]
  end
  for line in io.lines(args[1]) do
    items[#items + 1] = post_path and unhex(line) or line
  end
  math.randomseed(os.time())
end

function request()
  local item = items[math.random(#items)]
  if post_path then
    return wrk.format("POST", post_path, headers, item)
  end
  return wrk.format("GET", item)
end

-- One machine-readable line for the benchmark: requests, duration (us), non-2xx/3xx,
-- socket errors, latency p50, p99 and max (us).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK_RESULT %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
