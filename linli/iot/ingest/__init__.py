"""Ingest: decode and validate a batch (`decode`), encode it for binary COPY (`copyformat`), judge it by
the stream rules (`rules_eval`) — all without a database — and write it in one transaction (`writer`)."""

from linli.iot.ingest.copyformat import copy_payload, copy_statement
from linli.iot.ingest.decode import IngestError, Message
from linli.iot.ingest.writer import BatchResult, IngestWriter

__all__ = ["BatchResult", "IngestError", "IngestWriter", "Message", "copy_payload", "copy_statement"]
