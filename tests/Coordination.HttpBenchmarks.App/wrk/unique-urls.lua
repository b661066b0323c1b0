-- Every request gets a URL of its own, so nothing can be coalesced or served from a cache:
-- <path>?k=<thread>-<n>. Script argument: the path.
local threads = 0

function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

function init(args)
  path = args[1]
  sent = 0
end

function request()
  sent = sent + 1
  return wrk.format(nil, path .. "?k=" .. thread_id .. "-" .. sent)
end
