# The Dask suites (tests marked `dask`): each starts a LocalCluster of two worker processes on
# loopback, so they run apart from `make test`; .ci/run runs them after it.
.PHONY: test-dask

test-dask: install  ## the Dask engine's suites: scoring, history tables, training on a 2-process LocalCluster
	$(HATCH) run test -m dask tests/core/test_cluster.py tests/cli/test_score_dask.py
