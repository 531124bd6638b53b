"""Rows of the policy table: the console and `policies.md` show the same."""


def fmt(value, spec: str = ".4f", none: str = "–") -> str:
    return none if value is None else format(value, spec)


def _vs(row: dict, baseline: str) -> str:
    diff = row.get("vs", {}).get(baseline)
    if not diff:
        return "–"
    ci = diff["ci90"]
    return f"{diff['mean']:+.4f}" + (f" [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "")


def table_rows(doc: dict, rows_from: str = "policies") -> list[list[str]]:
    """Rows of the main table (also printed by the command), or of the variants table."""
    episodes = doc["episodes"]["list"]
    rows = []
    for p in doc[rows_from]:
        reached = [r for r in p["episode_reaction_days"] if r is not None]
        median = fmt(_median(reached), ".0f") if reached else "–"
        rows.append([p["name"], fmt(p["mean_auc"]), fmt(p["p10_auc"]), str(p["retrains"]),
                     str(p["promotions"]), f"{p['cpu_s']:.0f}",
                     f"{median} ({len(reached)}/{len(episodes)})" if episodes else "–",
                     _vs(p, "weekly"), _vs(p, "daily")])
    return rows


TABLE_HEADER = ["policy", "mean AUC", "p10 AUC", "retrains", "promotions", "CPU s",
                "episode → promoted: median days (reached)", "vs weekly [90% CI]",
                "vs daily [90% CI]"]


def _median(values: list[float]) -> float | None:
    values = sorted(values)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
