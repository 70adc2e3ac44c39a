"""What F1 and F5 both use: IFS's History Log and ServiceTitan's purchase orders."""

from __future__ import annotations

from connector_dagster.onboarding.ifs import EntitySet
from connector_dagster.onboarding.servicetitan import Resource

HISTORY = EntitySet("history_set", reads=("LogId", "LuName", "Keys"))
ST_PURCHASE_ORDERS = Resource("inventory", "purchase-orders", writes=("POST", "PATCH"))
