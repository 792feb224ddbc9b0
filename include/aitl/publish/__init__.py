"""Publishing: the transactional outbox, its sinks and their circuit breaker."""
