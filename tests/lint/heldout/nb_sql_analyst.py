# %%
%load_ext nbdurable
import nbdurable as nd
import sqlite3
import pandas as pd
import matplotlib.pyplot as plt

conn = sqlite3.connect("warehouse.db")
model = nd.ai.openai("gpt-4o")
SCHEMA = "\n".join(r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE type='table'"))

# %%
def run_sql(query: str) -> list[dict]:
    cur = sqlite3.connect("warehouse.db").execute(query)
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]

# %% [markdown]
# Ask a question in plain words; the model writes SQL, we run it, the model explains.

# %%
question = "Which five products had the largest revenue growth last quarter?"

# %%
%%durable analyst
plan = await step.ai.infer(
    "write-sql",
    model=model,
    body={"messages": [
        {"role": "system", "content": f"Write one SQLite query for this schema:\n{SCHEMA}"},
        {"role": "user", "content": question},
    ]},
)
sql = plan["choices"][0]["message"]["content"].strip().strip("`")
rows = await step.run("query", run_sql, sql)
preview = pd.read_sql_query(sql, conn)  # <- ND322
explanation = await step.ai.infer(
    "explain",
    model=model,
    body={"messages": [{"role": "user", "content": f"Explain these results for a manager:\n{preview.head(20).to_markdown()}"}]},
)
df = pd.DataFrame(rows)
df.plot.bar(x=df.columns[0], y=df.columns[-1])
plt.show()
print(explanation["choices"][0]["message"]["content"])
