-- wrk: distinct bogus credentials, paced. MODE selects the kind:
--   jwt    GET with a Bearer JWT: a well-formed at+jwt header naming the real signing
--          key (KID), a random payload and a random signature (fails the signature check)
--   apikey GET with a Bearer API key: `kwak_` + 43 random base62 characters + their
--          correct CRC32 checksum (passes the format check, so it reaches the lookup)
--   basic  POST /oauth2/token with HTTP Basic: a random 22-character client ID and a
--          checksum-valid secret (SECRET): an unknown client
-- RATE paces each wrk thread to RATE requests a second (a per-thread schedule read from
-- CLOCK_MONOTONIC through LuaJIT's ffi: each request takes the next free slot and
-- `delay()` waits for it), given enough connections to keep that many in flight.
-- Threads are seeded apart, so no two threads send the same sequence.
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local bit = require("bit")
local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_nsec; } kw_timespec;
  int clock_gettime(int clk_id, kw_timespec *tp);
]]
local ts = ffi.new("kw_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
local b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

local function random_from(set, n)
  local out = {}
  for i = 1, n do
    local k = math.random(1, #set)
    out[i] = set:sub(k, k)
  end
  return table.concat(out)
end

local function base64(text, set, pad)
  local out = {}
  for i = 1, #text, 3 do
    local a, b, c = text:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local chars = 4
    if c == nil then chars = 3 end
    if b == nil then chars = 2 end
    for j = 1, 4 do
      local k = bit.band(bit.rshift(n, 18 - 6 * (j - 1)), 63) + 1
      if j <= chars then
        out[#out + 1] = set:sub(k, k)
      elseif pad then
        out[#out + 1] = "="
      end
    end
  end
  return table.concat(out)
end

local crc_table = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if bit.band(c, 1) == 1 then
      c = bit.bxor(bit.rshift(c, 1), 0xEDB88320)
    else
      c = bit.rshift(c, 1)
    end
  end
  crc_table[i] = c
end

local function crc32(text)
  local c = 0xFFFFFFFF
  for i = 1, #text do
    c = bit.bxor(bit.rshift(c, 8), crc_table[bit.band(bit.bxor(c, text:byte(i)), 0xFF)])
  end
  c = bit.bxor(c, 0xFFFFFFFF)
  if c < 0 then c = c + 4294967296 end
  return c
end

local function checksum(body)
  local n = crc32(body)
  local out = {}
  for i = 6, 1, -1 do
    local d = n % 62
    out[i] = alphabet:sub(d + 1, d + 1)
    n = math.floor(n / 62)
  end
  return table.concat(out)
end

function init(args)
  math.randomseed(os.time() * 1000 + id * 7919 + #(os.getenv("MODE") or ""))
  mode = os.getenv("MODE")
  interval_ms = 1000 / tonumber(os.getenv("RATE") or "1000")
  next_slot = now_ms()
  secret = os.getenv("SECRET") or ""
  header = base64('{"alg":"ES256","typ":"at+jwt","kid":"' .. (os.getenv("KID") or "x") .. '"}', b64url, false)
end

function delay()
  local now = now_ms()
  if next_slot < now then next_slot = now end
  local wait = next_slot - now
  next_slot = next_slot + interval_ms
  return math.floor(wait)
end

request = function()
  if mode == "jwt" then
    local token = header .. "." .. random_from(b64url, 240) .. "." .. random_from(b64url, 86)
    return wrk.format("GET", "/oauth2/status", { ["Authorization"] = "Bearer " .. token })
  elseif mode == "apikey" then
    local body = random_from(alphabet, 43)
    return wrk.format("GET", "/oauth2/status", { ["Authorization"] = "Bearer kwak_" .. body .. checksum(body) })
  else
    local basic = base64(random_from(alphabet, 22) .. ":" .. secret, b64, true)
    return wrk.format("POST", "/oauth2/token", {
      ["Authorization"] = "Basic " .. basic,
      ["Content-Type"] = "application/x-www-form-urlencoded",
    }, "grant_type=client_credentials")
  end
end
