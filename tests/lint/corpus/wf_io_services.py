# expect: ND322@16, ND322@17, ND322@19, ND322@20, ND301@20, ND322@21, ND322@23
"""Cloud SDKs and service clients called outside steps, including non-model calls of an LLM client."""
import boto3
from google.cloud import storage
from openai import OpenAI

import nbdurable as nd

s3 = boto3.client("s3")
gcs = storage.Client()
client = OpenAI()


@nd.function(id="services", trigger="go")
async def services(ctx):
    obj = s3.get_object(Bucket="b", Key="k")  # <- ND322
    s3.put_object(Bucket="b", Key="done", Body=b"1")  # <- ND322
    blob = gcs.bucket("b").blob("k")
    text = blob.download_as_text()  # <- ND322
    uploaded = client.files.create(file=open("train.jsonl", "rb"), purpose="fine-tune")  # <- ND322, ND301
    models = [m.id for m in client.models.list()]  # <- ND322
    table = boto3.resource("dynamodb").Table("runs")
    table.put_item(Item={"id": ctx.run_id})  # <- ND322
    return await ctx.step.run("summary", summarize, obj, text, uploaded.id, models)


def summarize(*args):
    return args
