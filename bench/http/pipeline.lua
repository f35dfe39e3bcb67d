-- wrk script: HTTP/1.1 pipelining, `depth` requests per write, so the server (not wrk)
-- is the bottleneck. Args: depth path method [body]
init = function(args)
  local depth = tonumber(args[1]) or 16
  local path = args[2] or "/"
  local method = args[3] or "GET"
  local body = args[4]
  local headers = {}
  if body then headers["Content-Type"] = "application/json" end
  local r = {}
  for i = 1, depth do r[i] = wrk.format(method, path, headers, body) end
  req = table.concat(r)
end

request = function()
  return req
end
