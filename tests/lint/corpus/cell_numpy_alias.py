%%durable numpy-cell
# expect: ND202@4
"""np (imported in another cell) is resolved to numpy."""
noise = np.random.normal(size=4)  # <- ND202
await step.run("fit", fit, noise.tolist())
