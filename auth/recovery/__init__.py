"""Proof of a phone number and the password's life after sign-up: one-time codes by SMS (sign-up, reset), changing
the password while signed in, and resetting it by phone when it is forgotten."""
