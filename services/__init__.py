"""The business domains: catalogue, permits, talent, credentials, notifications, partners, cloud."""
