-- One admission decision over every limit that applies: all allow it, or nothing is counted.
-- Runs atomically in Redis on Redis server time, so every gateway shares one clock.
-- The maths is aigw/limits/gcra.py (rates) and aigw/limits/tokens.py (budget windows).
--
-- KEYS[i]: the state of check i (one hash tag for all, so they share a Redis Cluster slot)
-- ARGV[1]: "1" for a dry run (peek: decide, count nothing)
-- ARGV[2 + 4(i-1) ..]: kind ("g" rate | "w" budget window), cost, limit, period (microseconds)
-- Returns {allowed, wait_us (-1: can never fit), denied (0: none), then per check:
--          remaining, reset_us, window}

local EPOCH = 1700000000000000 -- rate state is kept relative to this (µs) for float precision
local EPS = 0.1 -- µs
local t = redis.call('TIME')
local abs = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now = abs - EPOCH
local dry = ARGV[1] == '1'

local n = #KEYS
local out = {0, 0, 0}
local pending = {}
local wait = 0
local never = false
local denied = 0

for i = 1, n do
  local b = 2 + (i - 1) * 4
  local kind = ARGV[b]
  local cost = tonumber(ARGV[b + 1])
  local limit = tonumber(ARGV[b + 2])
  local period = tonumber(ARGV[b + 3])
  local ok, remaining, reset, win
  win = 0
  if kind == 'g' then
    local tee = period / limit
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
    local base = tat
    if base < now then base = now end
    local new = base + cost * tee
    if new - now > period + EPS then
      ok = false
      if cost > limit then never = true
      elseif new - now - period > wait then wait = new - now - period end
      remaining = math.floor((period - (base - now)) / tee + 1e-6)
      reset = base - now
    else
      ok = true
      pending[i] = new
      remaining = math.floor((period - (new - now)) / tee + 1e-6)
      reset = new - now
    end
  else
    local cur = math.floor(abs / period)
    local h = redis.call('HMGET', KEYS[i], 'w', 'u')
    local used = 0
    if h[1] and tonumber(h[1]) == cur then used = tonumber(h[2]) end
    reset = (cur + 1) * period - abs
    win = cur
    if used + cost > limit then
      ok = false
      if cost > limit then never = true
      elseif reset > wait then wait = reset end
      remaining = limit - used
    else
      ok = true
      pending[i] = used + cost
      remaining = limit - used - cost
    end
  end
  if not ok and denied == 0 then denied = i end
  if remaining < 0 then remaining = 0 end
  out[#out + 1] = remaining
  out[#out + 1] = math.floor(reset)
  out[#out + 1] = win
end

if denied == 0 and not dry then
  for i = 1, n do
    local b = 2 + (i - 1) * 4
    if ARGV[b] == 'g' then
      local ttl = math.ceil((pending[i] - now) / 1000) + 1
      redis.call('SET', KEYS[i], string.format('%.17g', pending[i]), 'PX', ttl)
    else
      redis.call('HSET', KEYS[i], 'w', out[3 + (i - 1) * 3 + 3], 'u', pending[i])
      -- Kept a little past the window's end so a late settle finds it (and ignores it).
      redis.call('PEXPIRE', KEYS[i], math.ceil(out[3 + (i - 1) * 3 + 2] / 1000) + 60000)
    end
  end
end

out[1] = (denied == 0) and 1 or 0
if never then out[2] = -1 else out[2] = math.ceil(wait) end
out[3] = denied
return out
