-- wrk: POST a form body (BODY) to an OAuth endpoint with client_secret_basic
-- (BASIC = base64 "id:secret"): introspection, and the peer server's token endpoint.
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BASIC")
