"""Notifications to people: bilingual templates, an in-app inbox, and SMS through the cloud port."""
