"""The ServiceTitan webhook receiver: verifies each delivery's signature, envelope and
tenant, and stores the event once in `connector.webhook_inbox` before answering 2xx."""
