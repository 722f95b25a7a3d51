-- wrk: each request asks the URL's path as the next visitor of the cookie file (the
-- status call, or a new visitor's join when every line is a visitor not yet in line),
-- with any headers given on wrk's command line.
local cookies = {}
local path = os.getenv("SLUIS_BENCH_COOKIES")
for line in io.lines(path) do cookies[#cookies + 1] = line end
local i = 0
request = function()
  i = i % #cookies + 1
  local headers = {}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  headers["Cookie"] = cookies[i]
  return wrk.format("GET", wrk.path, headers)
end
