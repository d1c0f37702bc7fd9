-- POST /session/event with one event (or BATCH events) per request, round-robin over the session ids in IDS_FILE.
-- Every event carries a client id as the tracker sends them (`<instance>-<sequence>`, unique in the run), so the
-- service does the dedup work real traffic costs; EVENT_IDS=0 leaves them out.
-- Environment: IDS_FILE (one id per line; a single line = one hot session), BATCH (default 1), RUN_TOKEN (the id
-- prefix: distinct per wrk run, or ids repeat and the service answers duplicates), EVENT_IDS.
local ids = {}
for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
local batch = tonumber(os.getenv("BATCH") or "1")
local with_ids = os.getenv("EVENT_IDS") ~= "0"
local token = os.getenv("RUN_TOKEN") or tostring(os.time())
local n = 0
local seq = 0
local fields = '"type":"click","data":{"target":"BUTTON","x":150,"y":300,"page_url":"/chat"},"t":1730000000000'

local function event()
  if not with_ids then return fields end
  seq = seq + 1
  return '"id":"' .. token .. '-' .. seq .. '",' .. fields
end

request = function()
  n = n + 1
  local id = ids[(n % #ids) + 1]
  local body
  if batch == 1 then
    body = '{"session_id":"' .. id .. '",' .. event() .. '}'
  else
    local events = {}
    for i = 1, batch do events[i] = '{' .. event() .. '}' end
    body = '{"session_id":"' .. id .. '","events":[' .. table.concat(events, ",") .. ']}'
  end
  return wrk.format("POST", "/session/event", {["Content-Type"] = "application/json"}, body)
end

done = function(summary, latency, requests)
  io.write(string.format("JSON {\"requests\":%d,\"duration_s\":%.3f,\"rps\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"errors\":%d,\"non2xx\":%d}\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
