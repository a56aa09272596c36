"""The rules: every change to slots, bookings, the waiting list and the catalogue."""
