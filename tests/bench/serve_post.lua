-- wrk: POST the file named by $MNISTGEN_BENCH_BODY as every request's body (a picture, for
-- tests/bench/handwriting.py); the report at the end is serve_wrk.lua's, at $MNISTGEN_BENCH_REPORT
local file = assert(io.open(os.getenv("MNISTGEN_BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*all")
file:close()
dofile(os.getenv("MNISTGEN_BENCH_REPORT"))
