"""The IFS Cloud simulator: Keycloak tokens and OData projections (`app.create_app`)."""
