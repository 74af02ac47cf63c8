# Benchmarks that print numbers (bench/).
.PHONY: bench-serving bench-serving-quick wrk

# Extra options of the bench run, e.g. BENCH_ARGS="--rounds 5 --duration 3" (docs/benchmarks.md).
BENCH_ARGS ?=

wrk:  ## the load generator of bench-serving (Debian's wrk; installed when missing)
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing wrk (load generator)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq wrk; fi; }

# The server on loopback against its own floors: GET /health and the bare onnxruntime run.
bench-serving: install wrk  ## /predict over GET /health (p50, req/s), a 1,000-flight batch over the bare session.run (ratios)
	$(HATCH) run bench-serving --model $(MODEL_DIR) $(BENCH_ARGS)

bench-serving-quick: install wrk  ## bench-serving's short smoke run (one round of 1 s runs)
	$(HATCH) run bench-serving --model $(MODEL_DIR) --quick $(BENCH_ARGS)

# In-process inference (the library over plain onnxruntime) and training (time, peak memory).
.PHONY: bench-inference bench-runtime bench-asgi bench-train
bench-inference: install  ## predict, predict_many and `flightontime score` over the bare session.run of the same rows (ratios)
	$(HATCH) run bench-inference --model $(MODEL_DIR) $(BENCH_ARGS)

bench-runtime: install  ## onnxruntime's options (2 threads, spinning off, one output, IOBinding) over the library's session options (ratios, pays or not)
	$(HATCH) run bench-runtime --model $(MODEL_DIR) $(BENCH_ARGS)

bench-asgi: install  ## the HTTP adapter's own cost, in process (no socket): /predict beyond /health next to the core's predict
	$(HATCH) run bench-asgi --model $(MODEL_DIR) $(BENCH_ARGS)

bench-train: install  ## train the default model end to end: wall time, stages, peak memory
	$(HATCH) run bench-train $(BENCH_ARGS)

# Batch scoring at scale: the local engine against Dask on one and two worker processes.
.PHONY: bench-dask
bench-dask: install  ## score generated millions of rows: local engine vs Dask on 1 and 2 workers (rows/s, peak MB per worker)
	$(HATCH) run bench-dask --model $(MODEL_DIR) $(BENCH_ARGS)
