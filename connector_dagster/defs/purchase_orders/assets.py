"""F1 assets per connection: `ifs_purchase_orders` (read) and
`servicetitan_purchase_orders` (the validated write), monthly partitions."""

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pandas as pd

from connector_dagster.defs.partitions import (
    ifs_pool,
    period_bounds,
    period_partitions,
    servicetitan_pool,
)
from connector_dagster.defs.purchase_orders import checks
from connector_dagster.defs.resources import Clients, StateStore
from connector_dagster.lib import mapping
from connector_dagster.lib.connections import Connection
from connector_dagster.lib.po_mapping import map_purchase_order
from connector_dagster.lib.po_sync import PurchaseOrderTarget, changed_since_read, read_period
from connector_dagster.lib.sync import SourceRecord, Syncer

FLOW = "purchase_orders"


def _records(
    frames: dict[str, pd.DataFrame], conn: Connection, maps: mapping.Mappings, period: str
) -> list[SourceRecord]:
    headers = frames["headers"].astype(object).where(frames["headers"].notna(), None)
    lines_frame = frames["lines"].astype(object).where(frames["lines"].notna(), None)
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines_frame.to_dict("records"):
        lines[line["OrderNo"]].append(line)
    syncable = set(conn.polling.purchase_order_states)
    records = []
    for header in headers.to_dict("records"):
        if header["Objstate"] not in syncable:
            continue
        order_no = header["OrderNo"]
        context = {"header": header, "lines": lines.get(order_no, [])}
        if header["Objstate"] == "Cancelled":
            records.append(
                SourceRecord(
                    order_no,
                    period,
                    {"canceledReason": "Other"},
                    header["etag"],
                    op="cancel",
                    context=context,
                )
            )
            continue
        mapped = map_purchase_order(header, lines.get(order_no, []), maps)
        records.append(
            SourceRecord(
                order_no, period, mapped.payload, header["etag"], mapped.problem, context=context
            )
        )
    return records


def build(conn: Connection) -> dg.Definitions:
    from connector_dagster.defs.schedules import close_schedule, polling_schedule

    prefix = conn.name
    periods = period_partitions(conn)
    source_key = dg.AssetKey([prefix, "ifs_purchase_orders"])

    @dg.asset(
        key=source_key,
        group_name=prefix,
        partitions_def=periods,
        pool=ifs_pool(conn),
        kinds={"ifs"},
        check_specs=[
            dg.AssetCheckSpec(
                "pandera_schema",
                asset=source_key,
                blocking=True,
                description="Shape of the read (pandera); blocks the write when wrong.",
            )
        ],
        description="IFS purchase orders of the period (by order date), headers and lines, "
        "with their ETags.",
    )
    def ifs_purchase_orders(
        context: dg.AssetExecutionContext, state: StateStore, clients: Clients
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        start, end = period_bounds(context)
        ifs = clients.ifs(conn.name, state.vault())
        frames = read_period(
            ifs, conn.ifs.sets.purchase_orders, conn.ifs.sets.purchase_order_lines, start, end
        )
        headers = frames["headers"]
        state.store().record_reads(
            conn.name,
            FLOW,
            list(zip(headers["OrderNo"], headers["etag"], strict=True)),
            context.run_id,
            context.partition_key,
        )
        yield dg.Output(
            frames,
            metadata={
                "purchase_orders": len(headers),
                "lines": len(frames["lines"]),
                "by_state": headers["Objstate"].value_counts().to_dict() if len(headers) else {},
            },
        )
        problems = checks.validate(frames)
        yield dg.AssetCheckResult(
            check_name="pandera_schema",
            passed=not problems,
            metadata={"problems": problems[:20], "count": len(problems)},
        )

    @dg.asset(
        key=[prefix, "servicetitan_purchase_orders"],
        group_name=prefix,
        partitions_def=periods,
        ins={"ifs_purchase_orders": dg.AssetIn(key=source_key)},
        pool=servicetitan_pool(conn),
        kinds={"servicetitan"},
        description="The period's syncable IFS purchase orders, created, updated or cancelled "
        "in ServiceTitan procurement through the write protocol.",
    )
    def servicetitan_purchase_orders(
        context: dg.AssetExecutionContext,
        ifs_purchase_orders: dict[str, pd.DataFrame],
        state: StateStore,
        clients: Clients,
    ) -> dg.MaterializeResult:
        store = state.store()
        version = mapping.ensure_loaded(store, conn.name, conn.mappings)
        maps = mapping.load(store, conn.name)
        records = _records(ifs_purchase_orders, conn, maps, context.partition_key)
        ifs = clients.ifs(conn.name, state.vault())
        st = clients.servicetitan(conn.name, state.vault())

        def changed(batch: list[SourceRecord]) -> dict[str, tuple[str, str]]:
            stale = changed_since_read(
                ifs, conn.ifs.sets.purchase_orders, {r.key: r.source_version for r in batch}
            )
            return {
                key: (
                    "conflict",
                    f"PO {key!r} changed in IFS while it was being synced; "
                    "it is written by the next run, or replay this record",
                )
                for key in stale
            }

        report = Syncer(
            store,
            PurchaseOrderTarget(st),
            conn.name,
            FLOW,
            run_id=context.run_id,
            mapping_version=version,
            before_write=changed,
            label="PO",
        ).run(records)
        metadata: dict[str, Any] = {
            **report.counts(),
            "mapping_version": version,
            "records": len(records),
        }
        if report.failed:
            sample = [
                f"{k}: {reason}: {msg}" for k, (reason, msg) in list(report.failed.items())[:10]
            ]
            raise dg.Failure(
                description=f"{len(report.failed)} of {len(records)} purchase orders of "
                f"{context.partition_key} failed and were parked in failed_records; the others "
                "were written. Fix the cause, then re-run the partition or replay them.",
                metadata={**metadata, "failures": dg.MetadataValue.json(sample)},
            )
        return dg.MaterializeResult(metadata=metadata)

    job = dg.define_asset_job(
        name=f"{prefix}_purchase_orders_job",
        selection=dg.AssetSelection.assets(source_key, [prefix, "servicetitan_purchase_orders"]),
        partitions_def=periods,
        description=f"F1 for {prefix}: IFS purchase orders into ServiceTitan.",
    )
    return dg.Definitions(
        assets=[ifs_purchase_orders, servicetitan_purchase_orders],
        jobs=[job],
        schedules=[
            polling_schedule(conn, job, f"{prefix}_purchase_orders_poll_schedule"),
            close_schedule(conn, job, f"{prefix}_purchase_orders_close_schedule"),
        ],
    )
