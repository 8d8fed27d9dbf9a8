"""The shared kernel: settings, database, errors, HTTP plumbing. Imports nothing from auth/ or services/."""
