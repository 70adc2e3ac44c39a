"""Kits: what several flows share and is not a flow. A kit has no spec; a flow folder
imports the engine, kits and systems, never another flow."""
