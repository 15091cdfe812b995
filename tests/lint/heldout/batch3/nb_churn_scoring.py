# %% [markdown]
# # Churn scoring, June cohort
# Fit on 80%, calibrate on the rest, push the top-risk accounts to the CRM for the CS team.

# %%
%load_ext nbdurable
import numpy as np
import pandas as pd

import nbdurable as nd

raw = pd.read_parquet("data/accounts_2025-06.parquet")
rng = np.random.default_rng(0)
raw.shape

# %%
def fit_model(records: list[dict]) -> str:
    import joblib
    from sklearn.ensemble import GradientBoostingClassifier

    df = pd.DataFrame.from_records(records)
    X, y = df[["tenure_days", "seats", "tickets_90d"]], df["churned"]
    clf = GradientBoostingClassifier(random_state=0).fit(X, y)
    joblib.dump(clf, "models/churn.joblib")
    return "models/churn.joblib"


def predict(model_path: str, records: list[dict]) -> list[float]:
    import joblib

    clf = joblib.load(model_path)
    df = pd.DataFrame.from_records(records)
    return clf.predict_proba(df[["tenure_days", "seats", "tickets_90d"]])[:, 1].tolist()


def push_to_crm(rows: list[dict]) -> int:
    import httpx

    httpx.post("http://crm.internal/api/risk-list", json=rows, timeout=30).raise_for_status()
    return len(rows)

# %%
%%durable churn-june
df = raw.dropna(subset=["account_id"]).copy()
df["tenure_days"] = (pd.Timestamp.today() - pd.to_datetime(df["signup_date"])).dt.days  # <- ND103
train = df.sample(frac=0.8, random_state=42)
calib = df.drop(train.index)
noise = rng.normal(0, 0.01, size=len(calib))  # <- ND604
model_path = await step.run("fit", fit_model, train.to_dict("records"))
probs = await step.run("predict", predict, model_path, calib.to_dict("records"))
calib = calib.assign(p=np.clip(np.array(probs) + noise, 0, 1))
top = calib.nlargest(100, "p")[["account_id", "p"]]
await step.run("push-top", push_to_crm, top.to_dict("records"))
review = calib.sample(20)  # <- ND202
await step.run("push-review", push_to_crm, review[["account_id", "p"]].to_dict("records"))

# %%
%%durable churn-june-by-plan
plans = sorted(raw["plan"].dropna().unique())
local_rng = np.random.default_rng(7)
for i, plan in enumerate(plans):
    part = raw[raw["plan"] == plan]
    picked = part.iloc[local_rng.permutation(len(part))[:25]]
    await step.run(f"plan-{i}", push_to_crm, picked[["account_id"]].to_dict("records"))
print(f"pushed {len(plans)} plans, table has {len(raw):,} rows")
