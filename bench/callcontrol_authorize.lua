-- wrk script of bench/bench_callcontrol.py: authorize at a FIXED rate,
-- open loop, latency counted from when each request was DUE (no
-- coordinated omission), the way wrk2 does it but with Debian's wrk.
--
--   wrk -t C -c C -d SECONDSs --timeout 10s -s callcontrol_authorize.lua URL \
--       -- RATE TOTAL START KEY USERS STAMP C
--
-- One connection per thread (-t = -c), so a thread's responses come in
-- the order of its requests. Request k (0 .. TOTAL-1) is due at
-- START + k / RATE (START: CLOCK_MONOTONIC seconds, as Python's
-- time.monotonic()); thread i sends k = i-1, i-1+C, ... . done() prints one
-- line "RESULT {json}" that the Python bench reads.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } wrk_timespec;
int clock_gettime(int clk_id, wrk_timespec *tp);
]]
local clock = ffi.new("wrk_timespec")
local function now()
    ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
    return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end

local CALLEES = {"442079460000", "442071234567", "447700900123",
    "441632960001"}
local threads = {}
local count = 0

function setup(thread)
    count = count + 1
    thread:set("id", count)
    table.insert(threads, thread)
end

function init(args)
    rate = tonumber(args[1])
    total = tonumber(args[2])
    start = tonumber(args[3])
    key = args[4]
    users = tonumber(args[5])
    stamp = args[6]
    connections = tonumber(args[7])
    n = 0          -- requests of this thread scheduled so far
    k = nil        -- the request about to be sent
    due, sent = 0, 0
    queue = {}     -- (due, sent) of requests awaiting their response
    latencies = {}
    statuses = {}
    decisions = {}
    last = 0
    lost = 0
    verified = id ~= 1
    headers = {["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer " .. key}
end

local function schedule()
    k = (id - 1) + n * connections
    n = n + 1
    due = start + k / rate
end

function delay()
    schedule()
    if k >= total then
        return 1000000000 -- this thread's share is sent: idle until the end
    end
    local wait = (due - now()) * 1000
    return wait > 0 and math.floor(wait) or 0
end

function request()
    if not verified then
        -- wrk calls request() once in the first thread before any
        -- connection, to check the script: not a request of the schedule
        verified = true
        return wrk.format("POST", "/v1/authorize", headers, "{}")
    end
    if k == nil then
        -- the connection's first request (no delay() before it), or the
        -- first after wrk reconnected: what was in flight is lost
        lost = lost + #queue
        queue = {}
        schedule()
    end
    local body = string.format(
        '{"call_id": "wrk-%s-%d", "leg": "a", "direction": "outbound", ' ..
        '"caller": "442071230000", "callee": "%s", ' ..
        '"sip_username": "bench-%d", "source_ip": null, ' ..
        '"sip_domain": null, "service": "voice"}',
        stamp, k, CALLEES[k % #CALLEES + 1], k % users)
    table.insert(queue, {due, now()})
    k = nil
    return wrk.format("POST", "/v1/authorize", headers, body)
end

function response(status, headers, body)
    local t = now()
    local sent_at = table.remove(queue, 1)
    -- from when it was due, or sent if it went out early (delay() is in
    -- whole milliseconds)
    table.insert(latencies, t - math.min(sent_at[1], sent_at[2]))
    statuses[status] = (statuses[status] or 0) + 1
    local decision, reason = string.match(body or "",
        '"decision":%s*"(%a+)",%s*"reason":%s*"([%w_]+)"')
    if decision then
        local name = decision .. ":" .. reason
        decisions[name] = (decisions[name] or 0) + 1
    end
    last = t
end

local function encode(map)
    local parts = {}
    for name, value in pairs(map) do
        table.insert(parts, string.format('"%s": %d', tostring(name), value))
    end
    return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
    local all, statuses, decisions = {}, {}, {}
    local last, lost = 0, 0
    for _, thread in ipairs(threads) do
        for _, value in ipairs(thread:get("latencies")) do
            table.insert(all, value)
        end
        for name, value in pairs(thread:get("statuses")) do
            statuses[name] = (statuses[name] or 0) + value
        end
        for name, value in pairs(thread:get("decisions")) do
            decisions[name] = (decisions[name] or 0) + value
        end
        last = math.max(last, thread:get("last"))
        lost = lost + thread:get("lost")
    end
    local e = summary.errors
    io.write(string.format('RESULT {"answered": %d, "last": %.6f, ' ..
        '"statuses": %s, "decisions": %s, "errors": {"connect": %d, ' ..
        '"read": %d, "write": %d, "timeout": %d, "lost": %d}, ' ..
        '"latencies": [', #all, last, encode(statuses), encode(decisions),
        e.connect, e.read, e.write, e.timeout, lost))
    for i, value in ipairs(all) do
        io.write(string.format(i == 1 and "%.6f" or ",%.6f", value))
    end
    io.write("]}\n")
end
