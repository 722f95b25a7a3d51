-- wrk: each request asks the URL's path (the status call) as the next visitor of the
-- cookie file.
local cookies = {}
local path = os.getenv("SLUIS_BENCH_COOKIES")
for line in io.lines(path) do cookies[#cookies + 1] = line end
local i = 0
request = function()
  i = i % #cookies + 1
  return wrk.format("GET", wrk.path, {["Cookie"] = cookies[i]})
end
