-- wrk: POST a signature with a distinct address on every request.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  thread_id = id
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"first_name": "Bench", "last_name": "Mark", "email": "b%d-%d-%d@example.org", ' ..
    '"country": "DE", "consent": true, "locale": "en"}', os.time(), thread_id, counter)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  io.write(string.format("non2xx=%d p99_ms=%.1f\n",
    summary.errors.status, latency:percentile(99) / 1000))
end
