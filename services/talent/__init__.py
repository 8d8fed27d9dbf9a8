"""Talent registration: the points engine, its versioned rule sets, and what-if assessments."""
