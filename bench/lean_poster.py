"""Prototype, for measurement only: post_to_connection without botocore's per-call client machinery.

Same wire request as boto3's ``apigatewaymanagementapi`` client (``POST {endpoint}/@connections/{id}``,
SigV4 for ``execute-api``), built with botocore's own ``SigV4Auth`` and sent through one urllib3
connection pool. Skips the event hooks, parameter validation, endpoint-ruleset resolution and the
user-agent assembly that botocore repeats on every call. Duck-types what ``hermes_notifications.fanout.Fanout``
uses (``post_to_connection`` and ``exceptions.GoneException``), so Fanout runs on it unchanged.
Not used by Hermes; bench/run.py measures it beside the real client to size the possible gain.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import botocore.session
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError


class GoneException(ClientError):
    pass


class _Exceptions:
    GoneException = GoneException


class LeanManagementClient:
    exceptions = _Exceptions

    def __init__(self, endpoint_url: str, workers: int = 32, region: str | None = None):
        session = botocore.session.get_session()
        self.credentials = session.get_credentials()
        self.region = region or session.get_config_variable("region") or "us-east-1"
        self.endpoint = endpoint_url.rstrip("/")
        self.base_path = urlsplit(self.endpoint).path
        self.pool = urllib3.connection_from_url(self.endpoint, maxsize=max(workers, 10), block=False, retries=False)

    def post_to_connection(self, ConnectionId: str, Data: bytes):  # noqa: N803 - boto3's names
        path = f"{self.base_path}/@connections/{quote(ConnectionId, safe='')}"
        request = AWSRequest(method="POST", url=self.endpoint + path[len(self.base_path) :], data=Data)
        SigV4Auth(self.credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(request)
        response = self.pool.urlopen("POST", path, body=Data, headers=dict(request.headers.items()))
        if response.status < 300:
            return {}
        code = response.headers.get("x-amzn-ErrorType", "").split(":")[0] or str(response.status)
        error = {"Error": {"Code": code, "Message": ""}, "ResponseMetadata": {"HTTPStatusCode": response.status}}
        if response.status == 410:
            raise GoneException(error, "PostToConnection")
        raise ClientError(error, "PostToConnection")
