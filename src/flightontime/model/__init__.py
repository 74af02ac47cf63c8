"""Training, calibration, evaluation, the model bundle and fast prediction."""
