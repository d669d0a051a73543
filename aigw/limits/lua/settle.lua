-- Settle reservations to real usage: add `delta` (real minus reserved; may be negative) to
-- each limit. A refund never fills a rate bucket past full; an excess pushes it into debt,
-- which later requests wait out. A budget window that has ended is left alone.
-- Runs on Redis server time. Maths: aigw/limits/gcra.py gcra_adjust.
--
-- KEYS[i]: the state of check i
-- ARGV[1 + 5(i-1) ..]: kind ("g" | "w"), delta, limit, period (µs), window (budgets)

local EPOCH = 1700000000000000
local t = redis.call('TIME')
local abs = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now = abs - EPOCH

for i = 1, #KEYS do
  local b = 1 + (i - 1) * 5
  local kind = ARGV[b]
  local delta = tonumber(ARGV[b + 1])
  local limit = tonumber(ARGV[b + 2])
  local period = tonumber(ARGV[b + 3])
  if kind == 'g' then
    local tee = period / limit
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
    local new
    if delta >= 0 then
      if tat < now then tat = now end
      new = tat + delta * tee
    else
      new = tat + delta * tee
    end
    if new <= now then
      redis.call('DEL', KEYS[i])
    else
      redis.call('SET', KEYS[i], string.format('%.17g', new), 'PX', math.ceil((new - now) / 1000) + 1)
    end
  else
    local w = redis.call('HGET', KEYS[i], 'w')
    if w and tonumber(w) == tonumber(ARGV[b + 4]) then
      local u = tonumber(redis.call('HGET', KEYS[i], 'u')) + delta
      if u < 0 then u = 0 end
      redis.call('HSET', KEYS[i], 'u', u)
    end
  end
end
return #KEYS
