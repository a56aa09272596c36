"""Past seasons of farm visits shipped for the demo (read with ``importlib.resources``)."""
