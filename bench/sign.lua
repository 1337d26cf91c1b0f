-- wrk script: POST a signature with a distinct address on every request.
local threads = {}
local next_id = 1

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end

function init(args)
  counter = 0
  math.randomseed(os.time() + tid * 7919)
  salt = math.random(1, 1000000000)
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"first_name":"Bench","last_name":"Signer","email":"s%d.%d.%d@example.org",' ..
    '"country":"DE","consent":true,"updates":false,"public_name":false,"locale":"en","organisation":null}',
    tid, salt, counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
