"""Notifications leave through the outbox: written with what they announce, delivered to the webhook later."""
