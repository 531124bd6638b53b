"""Errors a user sees. Each names the file, the partition and the rule that was broken."""


class CTInputError(ValueError):
    """Bad input that fails one partition (never the whole run of unrelated partitions)."""

    def __init__(self, rule: str, detail: str, *, file: str | None = None,
                 partition: str | None = None):
        self.rule = rule
        self.detail = detail
        self.file = file
        self.partition = partition
        where = []
        if partition:
            where.append(f"partition {partition}")
        if file:
            where.append(f"file {file}")
        prefix = f"[{', '.join(where)}] " if where else ""
        super().__init__(f"{prefix}rule '{rule}' failed: {detail}")


class InvalidPartitionKey(CTInputError):
    """A partition key or file name that is not a calendar day."""


class ServiceError(RuntimeError):
    """A configured service (warehouse server, broker, tracking server) is misconfigured or
    unreachable; the message names the component and its address."""
