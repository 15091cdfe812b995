"""Feature pipeline for the churn model, driven by a YAML config checked into the repo."""

import json
from pathlib import Path

import pandas as pd
import yaml

import nbdurable as nd

CONFIG = Path("pipelines/churn_features.yaml")
CACHE = Path(".cache/churn")


def load_table(name: str, columns: list[str]) -> list[dict]:
    return pd.read_parquet(f"s3://acme-lake/{name}/", columns=columns).to_dict("records")


def build_features(events: list[dict], windows: list[int]) -> list[dict]:
    df = pd.DataFrame.from_records(events)
    df["ts"] = pd.to_datetime(df["ts"])
    out = df.groupby("user_id").agg(n_events=("event", "count"), last_seen=("ts", "max")).reset_index()
    for w in windows:
        recent = df[df["ts"] >= df["ts"].max() - pd.Timedelta(days=w)]
        out = out.merge(recent.groupby("user_id").size().rename(f"events_{w}d").reset_index(), how="left", on="user_id")
    out["last_seen"] = out["last_seen"].astype(str)
    return out.fillna(0).to_dict("records")


def write_features(rows: list[dict], version: str) -> str:
    path = f"s3://acme-features/churn/v={version}/features.parquet"
    pd.DataFrame.from_records(rows).to_parquet(path, index=False)
    return path


def read_config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


@nd.function(id="churn-features")
async def churn_features(ctx: nd.Context) -> str:
    cfg = yaml.safe_load(open(CONFIG))  # <- ND301
    events = await ctx.step.run("events", load_table, cfg["source"], cfg["columns"])
    if (CACHE / f"{cfg['version']}.done").exists():  # <- ND301
        ctx.logger.info("version %s already built, rebuilding features only", cfg["version"])
    else:
        await ctx.step.run("warm-cache", warm_cache, cfg["version"])
    rows = await ctx.step.run("features", build_features, events, cfg["windows"])
    return await ctx.step.run("write", write_features, rows, cfg["version"])


def warm_cache(version: str) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / f"{version}.done").write_text(json.dumps({"version": version}))


@nd.function(id="churn-features-v2")
async def churn_features_v2(ctx: nd.Context) -> str:
    cfg = await ctx.step.run("config", read_config)
    windows = sorted(set(int(w) for w in cfg["windows"]))
    events = await ctx.step.run("events", load_table, cfg["source"], cfg["columns"])
    rows = await ctx.step.run("features", build_features, events, windows)
    out_dir = CACHE / cfg["version"]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "columns.json").write_text(json.dumps(sorted(rows[0]) if rows else []))
    return await ctx.step.run("write", write_features, rows, cfg["version"])
