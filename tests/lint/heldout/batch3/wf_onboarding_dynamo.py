"""Onboarding e-mail drip for new sign-ups; the template variant comes from a feature flag in DynamoDB."""

import boto3

import nbdurable as nd

dynamodb = boto3.resource("dynamodb")
flags = dynamodb.Table("feature-flags")
audit = dynamodb.Table("audit-events")
ses = boto3.client("sesv2")

TEMPLATES = {
    "v1": {"welcome": "welcome-v1", "tips": "tips-v1", "nudge": "nudge-v1"},
    "v2": {"welcome": "welcome-v2", "tips": "tips-v2", "nudge": "nudge-v2"},
}


def send_email(to: str, template: str, data: dict) -> str:
    resp = ses.send_email(
        FromEmailAddress="hello@acme.test",
        Destination={"ToAddresses": [to]},
        Content={"Template": {"TemplateName": template, "TemplateData": str(data)}},
    )
    return resp["MessageId"]


def has_activated(user_id: str) -> bool:
    item = dynamodb.Table("users").get_item(Key={"id": user_id}).get("Item", {})
    return bool(item.get("activated"))


@nd.function(id="onboarding-drip", trigger="user/signed_up")
async def onboarding(ctx: nd.Context) -> str:
    user = ctx.event.data
    flag = flags.get_item(Key={"name": "onboarding-v2"}).get("Item", {})  # <- ND322
    variant = "v2" if flag.get("enabled") else "v1"
    await ctx.step.run(f"welcome-{variant}", send_email, user["email"], TEMPLATES[variant]["welcome"], {"name": user["name"]})  # <- ND701
    await ctx.step.sleep("day-1", "1d")
    await ctx.step.run("tips", send_email, user["email"], TEMPLATES[variant]["tips"], {"name": user["name"]})
    await ctx.step.sleep("day-4", "3d")
    if not await ctx.step.run("activated", has_activated, user["id"]):
        await ctx.step.run("nudge", send_email, user["email"], TEMPLATES[variant]["nudge"], {"name": user["name"]})
    audit.put_item(Item={"pk": user["id"], "sk": f"onboarding#{ctx.run_id}", "variant": variant})  # <- ND322
    return variant


def read_flag(name: str) -> bool:
    return bool(flags.get_item(Key={"name": name}).get("Item", {}).get("enabled"))


@nd.function(id="onboarding-drip-v2", trigger="user/signed_up.v2")
async def onboarding_v2(ctx: nd.Context) -> str:
    user = ctx.event.data
    variant = "v2" if await ctx.step.run("flag", read_flag, "onboarding-v2") else "v1"
    await ctx.step.run(f"welcome-{variant}", send_email, user["email"], TEMPLATES[variant]["welcome"], {"name": user["name"]})
    await ctx.step.sleep("day-1", "1d")
    await ctx.step.run("tips", send_email, user["email"], TEMPLATES[variant]["tips"], {"name": user["name"]})
    await ctx.step.run(
        "audit", audit.put_item, Item={"pk": user["id"], "sk": f"onboarding#{ctx.run_id}", "variant": variant}
    )
    return variant
