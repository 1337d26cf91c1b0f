wrk.method = "POST"
function done(summary, latency, requests)
  io.write(string.format("non2xx=%d p99_ms=%.1f\n",
    summary.errors.status, latency:percentile(99) / 1000))
end
