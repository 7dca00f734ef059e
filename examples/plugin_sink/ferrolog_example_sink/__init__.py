"""An example ferrolog sink plugin: appends each batch of JSON lines to a file."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, ConfigDict, Field


class FileSink:
    """Writes every log line to ``path``; ``fsync`` makes each batch durable."""

    name = "example-file"
    kind = "sink"
    version = "1.0.0"
    api_version = ">=1.0,<2"

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        path: Path
        fsync: bool = False
        max_line_bytes: int = Field(default=65536, gt=0)

    def __init__(self, config: Config) -> None:
        self.config = config
        self.lines_written = 0
        self._file: BinaryIO | None = None

    async def start(self) -> None:
        # Runs on the sink runner's own event loop: blocking work goes to a thread.
        self._file = await asyncio.to_thread(open, self.config.path, "ab")

    def write_batch(self, batch: memoryview) -> None:
        assert self._file is not None, "start() opens the file first"
        data = bytes(batch)  # complete NDJSON lines; the view is valid only during the call
        self._file.write(data)
        self.lines_written += data.count(b"\n")

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()
            if self.config.fsync:
                os.fsync(self._file.fileno())

    def stop(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
