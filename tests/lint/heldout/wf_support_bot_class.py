"""A support bot written as a class: the workflow calls methods that use the bot's own clients and state."""

import random
import uuid

import nbdurable as nd
import requests

model = nd.ai.openai("gpt-4o-mini")


class SupportBot:
    def __init__(self) -> None:
        self.kb_url = "https://kb.local/search"
        self.session_id = uuid.uuid4().hex
        self.greetings = ["Hi!", "Hello!", "Hey there!"]

    def search_kb(self, question: str) -> list[str]:
        return requests.get(self.kb_url, params={"q": question}, timeout=10).json()["articles"]

    def greeting(self) -> str:
        return random.choice(self.greetings)


bot = SupportBot()


@nd.function(id="support-bot", trigger="chat/message")
async def reply(ctx: nd.Context) -> str:
    question = ctx.event.data["text"]
    articles = await ctx.step.run("kb", bot.search_kb, question)
    hello = bot.greeting()  # <- ND201
    answer = await ctx.step.ai.infer(
        "answer",
        model=model,
        body={"messages": [{"role": "system", "content": f"Use these articles: {articles}"},
                           {"role": "user", "content": question}]},
    )
    text = f"{hello} {answer['choices'][0]['message']['content']}"
    await ctx.step.run(f"log-{bot.session_id}", log_turn, question, text)  # <- ND205, ND701
    return text


def log_turn(question: str, text: str) -> None:
    with open("support.log", "a") as f:
        f.write(f"{question}\t{text}\n")
