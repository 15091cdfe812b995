# expect: ND401@14, ND401@15
"""litellm.completion and Google's models.generate_content are model calls too."""
import litellm
from google import genai

import nbdurable as nd

gclient = genai.Client()


@nd.function(id="others", trigger="go")
async def others(ctx):
    step = ctx.step
    a = litellm.completion(model="gpt-4o", messages=[])  # <- ND401
    b = gclient.models.generate_content(model="gemini", contents="hi")  # <- ND401
    await step.run("save", save, a, b)


def save(a, b):
    return a, b
