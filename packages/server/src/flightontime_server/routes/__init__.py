"""The HTTP routes: predictions (predict.py), probes and metrics (health.py), the model
(model.py); module-level handlers, the core service and the answer language injected
(`state.DEPENDENCIES`)."""
