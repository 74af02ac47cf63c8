"""The HTTP routes: predictions (predict.py), probes and metrics (health.py), the model
(model.py). Each module builds its handlers over the shared serving state."""
