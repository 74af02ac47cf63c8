"""FlightOnTime: flight departure delay prediction."""
