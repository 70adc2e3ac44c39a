"""Onboarding a contractor's tenants: `check` (do the tenants fit the enabled flows?),
`suggest` (mapping entries proposed from both systems' master data) and `coverage`
(what a period would write and park with the mappings in force)."""
