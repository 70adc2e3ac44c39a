"""The ServiceTitan simulator: OAuth2 tokens, the v2 APIs, exports and webhooks
(`app.create_app`)."""
