"""The shared domain: models and the services that carry every rule (no HTTP, no templates)."""
