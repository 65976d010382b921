-- wrk script: POST a 128-byte JSON payload to /topics/bench/events.
wrk.method = "POST"
wrk.path = "/topics/bench/events"
wrk.body = '{"seq":1,"pad":"' .. string.rep("x", 104) .. '"}'
wrk.headers["Content-Type"] = "application/json"
