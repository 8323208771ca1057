-- Replays presigned S3 URLs with wrk, cycling through them.
--
--   wrk -t2 -c16 -d5s -s bench/wrk/presigned.lua http://127.0.0.1:PORT -- URLS_FILE METHOD BODY_BYTES THREADS
--
-- URLS_FILE holds one presigned path+query per line ("/bucket/key?X-Amz-Algorithm=..."), signed for the same
-- host:port as the target URL. METHOD is GET or PUT; PUT sends BODY_BYTES bytes (the URLs are presigned
-- with UNSIGNED-PAYLOAD, as botocore presigns PutObject). All requests are built once in init(), so
-- request() only picks the next one: the load generator costs little CPU. Thread i of THREADS (the -t value)
-- only uses lines i, i+THREADS, i+2*THREADS...: two threads never write the same key at the same time.
-- (Not for HEAD: wrk 4.1 waits for a body after a HEAD response with a Content-Length; see bench/loadgen.py.)
-- done() prints one line "BENCH_JSON {...}" for bench/workloads.py to parse.

local thread_count = 0

function setup(thread)
   thread:set("id", thread_count)
   thread_count = thread_count + 1
end

function init(args)
   local urls_file = args[1]
   local method = args[2] or "GET"
   local body_bytes = tonumber(args[3] or "0")
   thread_total = tonumber(args[4] or "1")
   local body = nil
   if body_bytes > 0 then
      body = string.rep("b", body_bytes)
   end
   requests_list = {}
   local f = assert(io.open(urls_file, "r"))
   for line in f:lines() do
      if #line > 0 then
         requests_list[#requests_list + 1] = wrk.format(method, line, nil, body)
      end
   end
   f:close()
   assert(#requests_list > 0, "no URLs in " .. urls_file)
   next_index = nil
end

function request()
   -- 0-based position in this thread's share of the list (id is set by setup() before threads run)
   local first = (id or 0) % math.min(thread_total, #requests_list)
   if position == nil or position + thread_total >= #requests_list then
      position = first
   else
      position = position + thread_total
   end
   return requests_list[position + 1]
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, ' ..
      '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
      '"latency_mean_us": %.1f, "latency_p50_us": %d, "latency_p99_us": %d, "latency_max_us": %d}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency:percentile(50), latency:percentile(99), latency.max))
end
