-- wrk script: sends the cookies of a session pool round-robin, and prints a
-- JSON summary as its last line.
--   wrk ... -s pool.lua URL -- PATH [COOKIE_FILE]
-- COOKIE_FILE holds one Cookie header value per line; without it, requests
-- carry no cookie. Requests are built once, in init, so that each request
-- costs wrk a table lookup.

local requests = {}
local index = 0

function init(args)
  local path = args[1] or "/"
  local file = args[2]
  if file ~= nil and file ~= "" then
    for line in io.lines(file) do
      if line ~= "" then
        requests[#requests + 1] = wrk.format("GET", path, { ["Cookie"] = line })
      end
    end
  end
  if #requests == 0 then
    requests[1] = wrk.format("GET", path)
  end
  -- Threads start at different places in the pool.
  index = math.random(#requests) - 1
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read,
    e.write, e.status, e.timeout, latency:percentile(50),
    latency:percentile(99)))
end
