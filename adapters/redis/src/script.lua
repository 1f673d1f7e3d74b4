-- Headway's shared rate state for one limiter key: GCRA tiers reserved all-or-nothing,
-- the arithmetic of headway-core's Tiers (reserve_n, refund, defer_until) and of its key
-- machine's safety margin, on one Redis hash.
--
-- KEYS[1]  the key's hash: field o = the timeline's origin (unix seconds), t1..t8 = each
--          tier's theoretical arrival time, p = the pause's end; both in nanoseconds after o;
--          m = the margin: the largest any reservation asked for, an 1/1024 less each
--          reservation since (so that one process whose sends come late widens every
--          process's spacing, and it narrows again once none asks for it).
-- ARGV[1]  the operation: "reserve", "peek", "refund" or "pause"
-- ARGV[2], ARGV[3]  the clock: unix seconds and nanoseconds, or "" and "" for Redis's TIME
-- reserve/peek: ARGV[4] n, ARGV[5] the longest wait accepted (ns), ARGV[6] the caller's margin (ns),
--          ARGV[7] the number of tiers, then each tier's emission interval and tolerance (ns).
--          Returns {0, wait, o, prev1, next1, ...} when reserved (peek writes nothing), or
--          {1, wait} when the wait exceeds the longest accepted (nothing written).
-- refund:  ARGV[4] o, ARGV[5] the number of tiers, then each tier's prev and next.
--          A tier given as prev = next = -1 is not tried (it took its slot back before).
--          Returns the tiers that took their slot back, as a bit mask (tier 1 = 1).
-- pause:   ARGV[4] the pause (ns from now). Returns 1.
--
-- Every number stays below 2^53, so Lua's doubles hold it exactly: times are counted from
-- an origin at most about 13 days back, moved forward (and every value with it) once the
-- clock passes that. Whatever the script writes expires when it carries no information
-- (every tier replenished and no pause), and a key that would carry none is deleted.

local key = KEYS[1]
local op = ARGV[1]

if redis.replicate_commands then
  -- Redis 5 and 6 need effects replication to write after TIME; 7 always replicates effects.
  redis.replicate_commands()
end

local sec, nsec
if ARGV[2] == '' then
  local t = redis.call('TIME')
  sec = tonumber(t[1])
  nsec = tonumber(t[2]) * 1000
else
  sec = tonumber(ARGV[2])
  nsec = tonumber(ARGV[3])
end

local REBASE_NS = 1125899906842624 -- 2^50 ns, about 13 days
local state = redis.call('HMGET', key, 'o', 't1', 't2', 't3', 't4', 't5', 't6', 't7', 't8', 'p', 'm')
local o = tonumber(state[1])
local fresh = o == nil
local tats = {}
local pause = 0
local shared_margin = 0
-- The tiers the hash holds: those of the latest reservation.
local held = 0
if fresh then
  o = sec
  for i = 1, 8 do tats[i] = 0 end
else
  for i = 1, 8 do
    tats[i] = tonumber(state[i + 1]) or 0
    if state[i + 1] then held = i end
  end
  pause = tonumber(state[10]) or 0
  shared_margin = tonumber(state[11]) or 0
end
local now = (sec - o) * 1000000000 + nsec
if now > REBASE_NS then
  -- Move the origin to the current second; a value now in the past is equivalent to 0.
  local shift = sec - o
  o = sec
  now = nsec
  for i = 1, 8 do tats[i] = math.max(0, tats[i] - shift * 1000000000) end
  pause = math.max(0, pause - shift * 1000000000)
end

-- Writes the state of the first `count` tiers (those beyond are dropped: a tier added
-- later starts fresh, as in Tiers::set_quotas) and its expiry, the time until every tier is
-- replenished and the pause is over in whole milliseconds rounded up; deletes a state with
-- nothing left in it.
local function store(count)
  local last = pause
  local fields = {'o', o, 'p', pause, 'm', shared_margin}
  for i = 1, count do
    last = math.max(last, tats[i])
    fields[#fields + 1] = 't' .. i
    fields[#fields + 1] = tats[i]
  end
  local left = last - now
  if left <= 0 then
    redis.call('DEL', key)
    return
  end
  redis.call('HSET', key, unpack(fields))
  if count < held then
    local gone = {}
    for i = count + 1, held do gone[#gone + 1] = 't' .. i end
    redis.call('HDEL', key, unpack(gone))
  end
  redis.call('PEXPIRE', key, math.floor((left + 999999) / 1000000))
end

if op == 'reserve' or op == 'peek' then
  local n = tonumber(ARGV[4])
  local max_wait = tonumber(ARGV[5])
  local asked = tonumber(ARGV[6])
  local margin = math.max(asked, shared_margin)
  shared_margin = math.max(asked, shared_margin - math.floor(shared_margin / 1024))
  local count = tonumber(ARGV[7])
  -- The earliest time every tier conforms: Tiers::plan.
  local ready = math.max(now, pause)
  for i = count + 1, 8 do tats[i] = 0 end
  for i = 1, count do
    local t = tonumber(ARGV[6 + 2 * i])
    local tau = tonumber(ARGV[7 + 2 * i])
    ready = math.max(ready, tats[i] + (n - 1) * t - tau)
  end
  local wait = ready - now
  if wait > max_wait then
    return {1, wait}
  end
  local reply = {0, wait, o}
  for i = 1, count do
    local t = tonumber(ARGV[6 + 2 * i])
    local tau = tonumber(ARGV[7 + 2 * i])
    -- Admitted at `ready` in every tier; the margin when it leaves the tier nothing to
    -- spare (the key machine's with_margin).
    local next = math.max(tats[i], ready) + n * t
    if next - tau > ready then
      next = next + margin
    end
    reply[#reply + 1] = tats[i]
    reply[#reply + 1] = next
    tats[i] = next
  end
  if op == 'reserve' then
    store(count)
  end
  return reply
elseif op == 'refund' then
  -- Tier by tier, a slot goes back only while it is still the tier's latest reservation
  -- (Tiers::refund); after the origin moved, nothing does.
  local count = tonumber(ARGV[5])
  if fresh or tonumber(ARGV[4]) ~= o then
    return 0
  end
  local back = 0
  for i = 1, count do
    local prev = tonumber(ARGV[4 + 2 * i])
    local next = tonumber(ARGV[5 + 2 * i])
    if next >= 0 and tats[i] == next then
      tats[i] = prev
      back = back + 2 ^ (i - 1)
    end
  end
  if back > 0 then
    store(held)
  end
  return back
elseif op == 'pause' then
  pause = math.max(pause, now + tonumber(ARGV[4]))
  store(held)
  return 1
end
return redis.error_reply('headway: unknown operation ' .. tostring(op))
