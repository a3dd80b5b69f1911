-- wrk: GET with `Authorization: Bearer <token>` for the tokens in TOKENS_FILE (one per
-- line, as bench-seed writes them). Each wrk thread runs its own Lua state and streams
-- the file, taking every THREADS-th line (thread i takes lines i, i+THREADS, …), so the
-- tokens are never held in memory. TOKEN_LIMIT (default: all) uses only the first
-- lines. CYCLE=1 starts over at the end; otherwise each token is sent once and the
-- thread stops at the end of the file, after creating DONE_DIR/done-<thread>, which
-- scripts/bench-scale waits for before it stops wrk (SIGINT) so that requests/s covers
-- the pass only.
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  nthreads = tonumber(os.getenv("THREADS") or "2")
  limit = tonumber(os.getenv("TOKEN_LIMIT") or "0")
  cycle = os.getenv("CYCLE") == "1"
  done_dir = os.getenv("DONE_DIR")
  file = assert(io.open(os.getenv("TOKENS_FILE"), "r"))
  line_no = 0
  finished = false
  last = "none"
end

local function next_token()
  while true do
    local line = nil
    if limit == 0 or line_no < limit then line = file:read("*l") end
    if line == nil then
      if not cycle then return nil end
      file:seek("set", 0)
      line_no = 0
    else
      line_no = line_no + 1
      if (line_no - 1) % nthreads == id then return line end
    end
  end
end

request = function()
  local token = next_token()
  if token == nil then
    if not finished then
      finished = true
      if done_dir then
        local f = io.open(done_dir .. "/done-" .. id, "w")
        if f then f:close() end
      end
      wrk.thread:stop()
    end
    token = last
  end
  last = token
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. token })
end
