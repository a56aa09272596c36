"""The JSON API (``/api/v1``): availability for the website and resellers, bookings for apps."""
