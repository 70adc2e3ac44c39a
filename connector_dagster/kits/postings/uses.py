"""What F3 and F4 both use: IFS's posting sets (header and rows) they write."""

from __future__ import annotations

from connector_dagster.onboarding.ifs import EntitySet

POSTING_SETS = (
    EntitySet(
        "headers_set",
        reads=("Objstate",),
        writes=("Company", "VoucherType", "VoucherDate", "Text", "Reference"),
        field_settings=("header_keys",),
    ),
    EntitySet(
        "rows_set",
        writes=(
            "Account",
            "CurrencyDebetAmount",
            "CurrencyCreditAmount",
            "DebetAmount",
            "CreditAmount",
            "CurrencyCode",
            "Text",
        ),
        field_settings=("cost_centre_part",),
    ),
)
