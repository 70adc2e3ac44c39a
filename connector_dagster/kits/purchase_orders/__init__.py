"""What F1 (IFS POs to ServiceTitan) and F5 (ServiceTitan POs to IFS) share: the
provenance markers each writes and the other recognises, and the mapping tables."""
