-- wrk script: counts bad responses: a status other than the expected one (env WRK_EXPECT,
-- default 200), a body without the text WRK_BODY_HAS, no header WRK_HEADER_HAS (names,
-- comma-separated: each must be there), or a header WRK_HEADER_LACKS (a name).
-- For token exchanges it cycles through many clients' Basic headers (file named by env
-- WRK_AUTH_FILE, one "Basic …" per line).
local expect = tonumber(os.getenv("WRK_EXPECT") or "200")
local body_has = os.getenv("WRK_BODY_HAS")
local header_has = {}
for name in string.gmatch(os.getenv("WRK_HEADER_HAS") or "", "[^,]+") do
  table.insert(header_has, name)
end
local header_lacks = os.getenv("WRK_HEADER_LACKS")
local method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
local bearer = os.getenv("WRK_BEARER")
local auth_file = os.getenv("WRK_AUTH_FILE")
local extra = os.getenv("WRK_HEADERS") -- "Name: value|Name: value"
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  auths = {}
  if auth_file then
    for line in io.lines(auth_file) do table.insert(auths, line) end
  end
  n = math.random(1, math.max(#auths, 1))
end

function request()
  local headers = {}
  if #auths > 0 then
    n = n % #auths + 1
    headers["Authorization"] = auths[n]
  elseif bearer then
    headers["Authorization"] = "Bearer " .. bearer
  end
  if body then headers["Content-Type"] = "application/x-www-form-urlencoded" end
  if extra then
    for pair in string.gmatch(extra, "[^|]+") do
      local k, v = string.match(pair, "^([^:]+):%s*(.*)$")
      if k then headers[k] = v end
    end
  end
  return wrk.format(method, nil, headers, body)
end

function response(status, headers, resp_body)
  local ok = status == expect
      and (not body_has or (resp_body and string.find(resp_body, body_has, 1, true)))
      and not (header_lacks and headers[header_lacks])
  for _, name in ipairs(header_has) do ok = ok and headers[name] ~= nil end
  if not ok then bad = bad + 1 end
end

function done(summary, latency, requests)
  local total_bad = 0
  for _, t in ipairs(threads) do total_bad = total_bad + (t:get("bad") or 0) end
  io.write(string.format("RESULT %d %.1f %.3f %.3f %d\n", summary.requests,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, total_bad + summary.errors.status))
end
