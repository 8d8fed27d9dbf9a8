"""The government cloud: ports, the signed adapter, the mock cloud, and the callbacks."""
