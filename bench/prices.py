"""List prices the benchmarks price with (bench/run.py sections 7 and 8), in one place.

Plain constants: no imports and nothing run on import, so any bench script can use them
(``from prices import COST_PRICES, PRICES_TAKEN``; bench scripts run as ``python bench/<script>.py``,
which puts bench/ on sys.path). This machine has no internet: every figure says where it was read and how sure it is.
"""

# DynamoDB on-demand list prices, us-east-1, Standard table class, USD per million request units.
PRICE_PER_MILLION_WRU = 0.625
PRICE_PER_MILLION_RRU = 0.125
PRICE_SOURCE = (
    "us-east-1 on-demand list prices, Standard table class, after AWS's 50 % cut of on-demand throughput in "
    "November 2024 (https://aws.amazon.com/dynamodb/pricing/on-demand/; this machine has no internet: the figures "
    "were read from a stored copy of a 2025 third-party summary of that page, not from AWS today)"
)

PRICES_TAKEN = "2026-11-23"  # the day the figures below were written down here (this machine has no internet)
_NOT_RECHECKED = f"list price as of {PRICES_TAKEN} per the source, not re-checked from this machine"

# (unit price in USD, what it buys, source, how sure). One table, printed whole by bench_cost.
COST_PRICES: dict[str, tuple[float, str, str, str]] = {
    "lambda_gb_s": (
        0.0000166667,
        "Lambda duration, x86_64, per GB-s (first 6 billion GB-s a month)",
        "https://aws.amazon.com/lambda/pricing/",
        _NOT_RECHECKED + " (figure from issue 12)",
    ),
    "lambda_request": (
        0.20 / 1e6,
        "Lambda requests: $0.20 per million",
        "https://aws.amazon.com/lambda/pricing/",
        _NOT_RECHECKED + " (figure from issue 12)",
    ),
    "apigw_message": (
        1.00 / 1e6,
        "API Gateway WebSocket messages, sent or received, in 32 KB units: $1.00 per million (first billion a month)",
        "https://aws.amazon.com/api-gateway/pricing/",
        _NOT_RECHECKED + " (figure from issue 12)",
    ),
    "apigw_connection_minute": (
        0.25 / 1e6,
        "API Gateway WebSocket connection minutes: $0.25 per million",
        "https://aws.amazon.com/api-gateway/pricing/",
        _NOT_RECHECKED + " (figure from issue 12)",
    ),
    "sqs_request": (
        0.40 / 1e6,
        "SQS standard queue requests, each 64 KB chunk of payload one request: $0.40 per million (after 1 M free)",
        "https://aws.amazon.com/sqs/pricing/",
        _NOT_RECHECKED + " (figure from issue 12)",
    ),
    "dynamodb_wru": (
        PRICE_PER_MILLION_WRU / 1e6,
        f"DynamoDB on-demand write request units, Standard table class: ${PRICE_PER_MILLION_WRU} per million",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "section 7's PRICE_SOURCE: read from a stored 2025 third-party summary of that page, not from AWS today",
    ),
    "dynamodb_rru": (
        PRICE_PER_MILLION_RRU / 1e6,
        f"DynamoDB on-demand read request units, Standard table class: ${PRICE_PER_MILLION_RRU} per million",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "as the line above",
    ),
    "appsync_operation": (
        1.00 / 1e6,
        "AppSync Events operations: $1.00 per million. Read here (an assumption): the inbound publish is one "
        "operation and each delivery to a subscriber another, so a message to a room of N is 1 + N",
        "https://aws.amazon.com/appsync/pricing/",
        _NOT_RECHECKED + " (figure from issue 12); the 1 + N reading matches a stored copy of a third-party "
        "summary (https://awsnegotiations.com/appsync-events-cost, May 2026: 'published + delivered operations'), "
        "not AWS's page",
    ),
    "appsync_connection_minute": (
        0.08 / 1e6,
        "AppSync Events connection minutes: $0.08 per million",
        "https://aws.amazon.com/appsync/pricing/",
        _NOT_RECHECKED + " (figure from issue 12)",
    ),
    "ably_message": (
        2.50 / 1e6,
        "Ably messages: ~$2.50 per million (the overage rate of its self-service packages, which also have a "
        "monthly base price: not included). Counted 1 per publish + 1 per subscriber reached, in 2 KiB chunks",
        "https://ably.com/pricing",
        _NOT_RECHECKED + " (figure from issue 12); the 1 + N counting read from a stored copy of "
        "https://ably.com/docs/pricing ('a message published to 10 subscribers counts as 11')",
    ),
    "ably_connection_minute": (
        1.00 / 1e6,
        "Ably connection minutes: $1.00 per million",
        "https://ably.com/pricing",
        _NOT_RECHECKED + " (figure from issue 12)",
    ),
    "pusher_message": (
        99.0 / (4e6 * 30),
        "Pusher Channels, one tier, DERIVED: Pro, $99 a month for 4 million messages a day and 2,000 concurrent "
        "connections = $99 ÷ 120 million = $0.825 per million messages if the allowance is used in full. Counted "
        "1 per publish + 1 per subscriber reached",
        "https://pusher.com/channels/pricing",
        "UNVERIFIED: the tier's price and allowances are recalled, not read from any page or stored copy here; "
        "the 1 + N counting is from a stored copy of Pusher's help page "
        "(https://docs.bird.com/pusher/channels/channels/limits/how-is-my-message-count-calculated-in-channels)",
    ),
}
PUSHER_TIER_CONNECTIONS = 2_000
PUSHER_TIER_DOLLARS = 99.0
