"""The service catalogue: departments and bilingual public services, versioned, searchable, published by departments."""
