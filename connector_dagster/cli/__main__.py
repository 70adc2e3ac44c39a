"""`python -m connector_dagster.cli ...`, as the `connector-dagster` script."""

import sys

from connector_dagster.cli import main

sys.exit(main())
