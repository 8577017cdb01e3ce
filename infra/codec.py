"""Payload encryption for everything the service hands Temporal: inputs, results, state, histories.

Hazard records carry personal data (the principal's phone); Temporal's history and UI must not. Payloads
written before encryption existed (or by a tool without the key) pass through decode unchanged, so recorded
histories still replay.
"""

import base64
import dataclasses
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class EncryptionCodec(PayloadCodec):
    def __init__(self, key: bytes, key_id: str = "default") -> None:
        self._cipher = AESGCM(key)
        self._key_id = key_id.encode()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(p) if p.metadata.get("encoding") == ENCODING else p for p in payloads]

    def _encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._cipher.encrypt(nonce, payload.SerializeToString(), None)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: self._key_id}, data=nonce + sealed)

    def _decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get(KEY_ID) != self._key_id:
            raise ValueError(f"payload sealed with key {payload.metadata.get(KEY_ID)!r}, not ours")
        plain = self._cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], None)
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded


def data_converter(key: bytes) -> DataConverter:
    return dataclasses.replace(pydantic_data_converter, payload_codec=EncryptionCodec(key))


def load_or_create_key(configured: str | None, key_file: Path) -> bytes:
    """The configured key (base64, 32 bytes), or the embedded stack's own, created once beside its data."""
    if configured:
        key = base64.b64decode(configured)
    elif key_file.exists():
        key = base64.b64decode(key_file.read_text().strip())
    else:
        key = secrets.token_bytes(32)
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.touch(mode=0o600)
        key_file.write_text(base64.b64encode(key).decode())
    if len(key) != 32:
        raise ValueError("the payload key must be 32 bytes (AES-256), base64-encoded")
    return key
