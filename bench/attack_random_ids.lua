-- wrk: token requests for random (well-formed, unknown) client IDs with a
-- checksum-valid secret (SECRET), sent as client_secret_post: every one reaches the
-- dummy verification that makes an unknown ID cost as much as a wrong secret.
math.randomseed(os.time())
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
local secret = os.getenv("SECRET")
request = function()
  local id = {}
  for i = 1, 22 do
    local n = math.random(1, #alphabet)
    id[i] = alphabet:sub(n, n)
  end
  local body = "grant_type=client_credentials&client_id=" .. table.concat(id) .. "&client_secret=" .. secret
  return wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end
