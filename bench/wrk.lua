-- wrk script of the HTTP benchmark (bench/http.ts): POSTs pre-generated request bodies in turn.
-- Environment: BODY_DIR (files body-0.bin … body-{BODY_COUNT-1}.bin), BODY_COUNT, BODY_PATH
-- (e.g. /v1/logs), CONTENT_TYPE, CONTENT_ENCODING (empty for none).
-- At the end it prints one line: RESULT {json} with counts and latency percentiles in µs.

local dir = os.getenv("BODY_DIR")
local count = tonumber(os.getenv("BODY_COUNT"))
local path = os.getenv("BODY_PATH")
local headers = { ["Content-Type"] = os.getenv("CONTENT_TYPE") }
local enc = os.getenv("CONTENT_ENCODING")
if enc ~= nil and enc ~= "" then headers["Content-Encoding"] = enc end

-- Built in init(), which wrk calls per thread after wrk.init() has set wrk.headers.Host: a
-- request formatted at load time would have no Host header (HTTP/1.1 servers on Node and Bun
-- answer 400 to that; Deno accepts it).
local requests = {}
init = function(_)
  headers["Host"] = wrk.headers["Host"]
  for i = 0, count - 1 do
    local f = assert(io.open(dir .. "/body-" .. i .. ".bin", "rb"))
    local body = f:read("*a")
    f:close()
    requests[i + 1] = wrk.format("POST", path, headers, body)
  end
end

local n = 0
request = function()
  n = n + 1
  return requests[(n % count) + 1]
end

done = function(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"durationUs":%d,"bytesRead":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,"meanUs":%.1f,' ..
    '"errStatus":%d,"errConnect":%d,"errRead":%d,"errWrite":%d,"errTimeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.status, e.connect, e.read, e.write, e.timeout))
end
