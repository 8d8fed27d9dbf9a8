"""The official working-day calendar: public holidays and the weekend days worked in their place, per year."""
