"""The payload key every test client, worker and replayer shares (kept apart from conftest so workflow
modules defined in tests import nothing heavy into the sandbox)."""

from infra.codec import data_converter

TEST_PAYLOAD_KEY = bytes(range(32))
CONVERTER = data_converter(TEST_PAYLOAD_KEY)
