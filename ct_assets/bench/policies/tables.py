"""Rows of the policy tables: the console and `policies.md` show the same."""


def fmt(value, spec: str = ".4f", none: str = "–") -> str:
    return none if value is None else format(value, spec)


def versus(row: dict, peer: str) -> str:
    """`+0.0012 [-0.0010, +0.0035]`: a period row's paired difference against a peer."""
    diff = row.get("vs", {}).get(peer)
    if not diff:
        return "–"
    ci = diff["ci90"]
    return f"{diff['mean']:+.4f}" + (f" [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "")


TABLE_HEADER = ["policy", "tune: mean AUC", "retrains", "report: mean AUC", "p10 AUC",
                "retrains", "promotions", "CPU s", "report vs production [90% CI]",
                "report vs daily [90% CI]"]


def table_rows(doc: dict, names: list[str] | None = None) -> list[list[str]]:
    """One row per policy: its tune and report figures, the report's paired differences."""
    rows = []
    for p in doc["policies"]:
        if names is not None and p["name"] not in names:
            continue
        t, r = p["tune"], p["report"]
        rows.append([p["name"], fmt(t["mean_auc"]), str(t["retrains"]), fmt(r["mean_auc"]),
                     fmt(r["p10_auc"]), str(r["retrains"]), str(r["promotions"]),
                     f"{r['cpu_s']:.0f}", versus(r, "production"), versus(r, "daily")])
    return rows


def hindsight_rows(doc: dict) -> list[list[str]]:
    return [[str(h["retrains"]), str(h["used"]), fmt(h["mean_auc"])] for h in doc["hindsight"]]


def gate_rows(doc: dict) -> list[list[str]]:
    """Before and after, on each period: false reject, false accept, promotions."""
    gate = doc["gate"]
    rows = []
    for which in ("before", "after"):
        config = gate[which]["config"]
        label = (f"{which}: {config['block']} bootstrap, {config['slice_veto']} slice veto, "
                 f"tolerance {config['tolerance']:g}")
        for period in ("tune", "report"):
            g = gate[which][period]
            rows.append([label, period, _share(g["false_reject"], g["rejected_better"],
                                               g["better"]),
                         _share(g["false_accept"], g["accepted_worse"], g["worse"]),
                         f"{g['promoted']} of {g['candidates']}"])
    return rows


def _share(rate, count: int, of: int) -> str:
    return "–" if rate is None else f"{rate:.0%} ({count} of {of})"
