"""Clients, state store, vault and mapping shared by every flow."""
