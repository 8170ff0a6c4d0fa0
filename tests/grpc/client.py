"""Python grpcio (Debian's python3-grpcio) as an independent OTLP/gRPC client for the tests.

Reads one JSON object on stdin:

    {"addr": "127.0.0.1:4317",
     "calls": [{"path": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                "message": "<base64 bytes>", "compression": "gzip" | "deflate" | null,
                "metadata": [["authorization", "Bearer x"]], "timeout": 10}]}

and sends each call in order on one channel, raw bytes in and out (no generated stubs: the
request and response serializers are None). Prints one JSON object:

    {"results": [{"code": "OK", "details": "...", "response": "<base64>",
                  "trailing": {"name": "value", "grpc-status-details-bin": "<base64>"}}]}
"""

import base64
import json
import sys

import grpc

COMPRESSION = {
    None: grpc.Compression.NoCompression,
    "gzip": grpc.Compression.Gzip,
    "deflate": grpc.Compression.Deflate,
}


def main() -> None:
    req = json.load(sys.stdin)
    options = [
        ("grpc.max_send_message_length", 512 * 1024 * 1024),
        ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ("grpc.enable_retries", 0),
    ]
    results = []
    with grpc.insecure_channel(req["addr"], options=options) as channel:
        for call in req["calls"]:
            method = channel.unary_unary(call["path"])
            message = base64.b64decode(call["message"])
            metadata = [tuple(m) for m in call.get("metadata", [])]
            try:
                response, state = method.with_call(
                    message,
                    timeout=call.get("timeout", 10),
                    metadata=metadata or None,
                    compression=COMPRESSION[call.get("compression")],
                )
                results.append(
                    {
                        "code": "OK",
                        "details": "",
                        "response": base64.b64encode(response).decode(),
                        "trailing": trailing(state.trailing_metadata()),
                    }
                )
            except grpc.RpcError as err:
                results.append(
                    {
                        "code": err.code().name,
                        "details": err.details() or "",
                        "trailing": trailing(err.trailing_metadata()),
                    }
                )
    json.dump({"results": results}, sys.stdout)


def trailing(md) -> dict:
    out = {}
    for item in md or ():
        key, value = item.key, item.value
        out[key] = base64.b64encode(value).decode() if isinstance(value, bytes) else value
    return out


if __name__ == "__main__":
    main()
