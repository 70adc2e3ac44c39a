"""The code location's definitions, loaded folder by folder: one folder per flow,
plus the resources shared by all."""
