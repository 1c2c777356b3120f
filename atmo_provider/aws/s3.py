"""S3 addresses: parse and build ``s3://bucket/key`` URIs and their console pages."""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["console_url", "join_s3_uri", "normalize_s3_uri", "parse_s3_uri"]


def normalize_s3_uri(uri: str | None) -> str | None:
    """Return ``uri`` with EMR's ``s3n://`` or ``s3a://`` scheme written as ``s3://``."""
    if not uri:
        return None
    for scheme in ("s3n://", "s3a://"):
        if uri.startswith(scheme):
            return "s3://" + uri[len(scheme) :]
    return uri


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/some/key`` into ``("bucket", "some/key")``.

    :param uri: an ``s3://`` URI (``s3n://`` and ``s3a://`` are accepted too).
    :raises ValueError: when ``uri`` is not an S3 URI with a bucket.
    """
    normalized = normalize_s3_uri(uri) or ""
    if not normalized.startswith("s3://"):
        raise ValueError(f"expected an s3://bucket/key URI, got {uri!r}")

    bucket, _, key = normalized[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"expected an s3://bucket/key URI, got {uri!r}")
    return bucket, key


def join_s3_uri(base: str, *parts: str) -> str:
    """Join ``parts`` to the S3 URI ``base`` with exactly one slash between them."""
    uri = base.rstrip("/")
    for part in parts:
        uri = f"{uri}/{part.strip('/')}"
    return uri


def console_url(uri: str, region_name: str | None) -> str:
    """Return the S3 console page listing the prefix (or object) ``uri``."""
    bucket, key = parse_s3_uri(uri)
    url = f"https://s3.console.aws.amazon.com/s3/buckets/{quote(bucket)}"
    query = []
    if region_name:
        query.append(f"region={quote(region_name)}")
    if key:
        query.append(f"prefix={quote(key)}")
    return url + ("?" + "&".join(query) if query else "")
