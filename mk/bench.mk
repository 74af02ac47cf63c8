# Benchmarks that print numbers (bench/).
.PHONY: bench-serving

bench-serving: install model  ## serving benchmark on loopback: floors, /predict, batch, original way
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing wrk (load generator)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq wrk; fi; }
	$(BIN)/python bench/serving_bench.py --model $(MODEL_DIR)
