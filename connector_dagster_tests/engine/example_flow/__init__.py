"""A flow used only by the tests: a folder and a spec, like every flow. Its source and
target keep records in memory, so the engine can be shown to build and run any flow."""
