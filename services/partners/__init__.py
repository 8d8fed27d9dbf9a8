"""Partner systems: webhook subscriptions and their signed, retried, replayable deliveries."""
