"""`connector-dagster bench tenants`: connections syncing F1's period at once, each on a
tenant of its own; the figures (ratios, rates, memory) are read by people, not asserted."""

from __future__ import annotations

from connector_dagster.bench import tenants as bench_tenants


def test_each_tenant_is_reported_against_its_own_ceiling(db_env: str) -> None:
    result = bench_tenants.run((2,), records=30, latency_ms=0)
    [round_] = result["rounds"]
    assert round_["connections"] == 2
    assert [t["connection"] for t in round_["tenants"]] == ["n2_t1", "n2_t2"]
    assert len({t["tenant_id"] for t in round_["tenants"]}) == 2
    for tenant in round_["tenants"]:
        assert tenant["success"] and tenant["created"] == tenant["records"] > 0
        assert tenant["servicetitan_requests"] >= tenant["created"]
        for key in ("step_ratio_to_ceiling", "connector_peak_rss_mb", "write_step_s"):
            assert tenant[key] > 0
    assert round_["created"] == sum(t["created"] for t in round_["tenants"])
    assert round_["summed_ceiling_rps"] == 2 * result["ceiling_rps_per_tenant"]
    for key in ("summed_st_rps", "connector_rss_mb_per_tenant", "sandbox_peak_rss_mb"):
        assert round_[key] > 0
