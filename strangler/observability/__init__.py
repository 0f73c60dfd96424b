"""Health probes, Prometheus metrics and correlation context shared by every process."""
