import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
    UpdateNamespaceRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from contracts.hazard import SEARCH_ATTRIBUTES

NAMESPACE_PROPAGATION = timedelta(seconds=30)
T = TypeVar("T")

# Hazard files are official records: keep closed workflows' histories for at least ten years.
RETENTION = timedelta(days=3660)


async def connect(address: str, namespace: str, converter: DataConverter = pydantic_data_converter) -> Client:
    """Pass the encrypting converter (infra.codec) for anything that reads or writes hazard payloads."""
    return await Client.connect(address, namespace=namespace, data_converter=converter)


async def connect_when_serving(
    address: str, namespace: str, give_up_after: float, converter: DataConverter = pydantic_data_converter
) -> Client:
    """Connect to a Temporal server that may still be starting: its port opens before its frontend serves, and a
    client connecting in between is refused ("Frontend is not healthy yet"). Raises the last refusal once
    refused for `give_up_after` seconds."""
    deadline = time.monotonic() + give_up_after
    while True:
        try:
            return await connect(address, namespace, converter)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.25)


async def ensure_namespace(client: Client, namespace: str, retention: timedelta = RETENTION) -> None:
    """Create the namespace with our retention and search attributes, or bring an existing one up to them."""
    service = client.workflow_service
    period = Duration()
    period.FromTimedelta(retention)
    try:
        described = await service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        await service.register_namespace(
            RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=period)
        )
    else:
        if described.config.workflow_execution_retention_ttl.ToTimedelta() < retention:
            await service.update_namespace(
                UpdateNamespaceRequest(
                    namespace=namespace, config=NamespaceConfig(workflow_execution_retention_ttl=period)
                )
            )
    await ensure_search_attributes(client, namespace)


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    listed = await _when_known(
        lambda: client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    )
    missing = [key for key in SEARCH_ATTRIBUTES if key.name not in listed.custom_attributes]
    if missing:
        await _when_known(lambda: register_search_attributes(client, namespace, missing))


async def register_search_attributes(
    client: Client, namespace: str, keys: Sequence[SearchAttributeKey[Any]] = SEARCH_ATTRIBUTES
) -> None:
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            # The SDK's enum and the API's share their numbering.
            search_attributes={key.name: IndexedValueType.ValueType(int(key.indexed_value_type)) for key in keys},
        )
    )


async def _when_known(call: Callable[[], Awaitable[T]], within: timedelta = NAMESPACE_PROPAGATION) -> T:
    """A namespace just registered is unknown to the server's other services until their caches refresh
    (about a second on the dev server): NOT_FOUND until then."""
    deadline = asyncio.get_running_loop().time() + within.total_seconds()
    while True:
        try:
            return await call()
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND or asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(0.2)


class TemporalUnreachable(Exception):
    pass


class TemporalConnection:
    """One client per process, connected on first use so the API can start (and answer 503) before Temporal."""

    def __init__(self, address: str, namespace: str, converter: DataConverter) -> None:
        self._address = address
        self._namespace = namespace
        self._converter = converter
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    try:
                        self._client = await connect(self._address, self._namespace, self._converter)
                    except RuntimeError as err:  # the SDK's bridge reports a refused connection this way
                        raise TemporalUnreachable(str(err)) from err
        return self._client
