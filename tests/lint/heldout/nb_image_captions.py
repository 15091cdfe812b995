# %%
%load_ext nbdurable
import nbdurable as nd
import base64
import os
from PIL import Image

folder = "photos"
model = nd.ai.openai("gpt-4o")

# %%
def caption(path: str) -> str:
    import httpx
    data = base64.b64encode(open(path, "rb").read()).decode()
    r = httpx.post("http://localhost:8001/caption", json={"image": data}, timeout=60)
    return r.json()["caption"]

# %%
%%durable captions
captions = {}
for i, name in enumerate(os.listdir(folder)):  # <- ND301
    path = os.path.join(folder, name)
    with Image.open(path) as im:  # <- ND301
        small = im.width < 256
    if small:
        continue
    captions[name] = await step.run(f"caption-{i}", caption, path)
alt = await step.ai.infer(
    "alt-texts",
    model=model,
    body={"messages": [{"role": "user", "content": f"Rewrite these as accessible alt texts: {captions}"}]},
)
print(alt["choices"][0]["message"]["content"])
