-- POST /session/event with one event (or BATCH events) per request, round-robin over the session ids in IDS_FILE.
-- Environment: IDS_FILE (one id per line; a single line = one hot session), BATCH (default 1).
local ids = {}
for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
local batch = tonumber(os.getenv("BATCH") or "1")
local n = 0
local event = '{"type":"click","data":{"target":"BUTTON","x":150,"y":300,"page_url":"/chat"},"t":1730000000000}'

request = function()
  n = n + 1
  local id = ids[(n % #ids) + 1]
  local body
  if batch == 1 then
    body = '{"session_id":"' .. id .. '","type":"click","data":{"target":"BUTTON","x":150,"y":300,"page_url":"/chat"},"t":1730000000000}'
  else
    body = '{"session_id":"' .. id .. '","events":[' .. string.rep(event .. ",", batch - 1) .. event .. ']}'
  end
  return wrk.format("POST", "/session/event", {["Content-Type"] = "application/json"}, body)
end

done = function(summary, latency, requests)
  io.write(string.format("JSON {\"requests\":%d,\"duration_s\":%.3f,\"rps\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"errors\":%d,\"non2xx\":%d}\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
