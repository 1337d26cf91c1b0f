-- wrk script: a bare POST (baseline INSERT view).
wrk.method = "POST"
