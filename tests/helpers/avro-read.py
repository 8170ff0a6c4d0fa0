"""Reads Avro object container files with Debian's Apache Avro library (python3-avro), an
independent reader of the manifests and manifest lists otlp2parquet writes, and prints each as
JSON: {"schema": <the writer schema as JSON>, "metadata": {key: text}, "records": [...]}, with
bytes as {"$bytes": base64}
and integers past 2^53 as {"$long": digits}. Usage: /usr/bin/python3 avro-read.py FILE..."""
import base64
import json
import sys

import avro.datafile
import avro.io


def plain(v):
    if isinstance(v, bytes):
        return {"$bytes": base64.b64encode(v).decode()}
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**53:
        return {"$long": str(v)}
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


out = []
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        reader = avro.datafile.DataFileReader(f, avro.io.DatumReader())
        meta = {k: v.decode() for k, v in reader.meta.items() if not k.startswith("avro.")}
        schema = json.loads(reader.meta["avro.schema"].decode())
        records = [plain(r) for r in reader]
        out.append({"path": path, "schema": schema, "metadata": meta, "records": records})
        reader.close()
json.dump(out, sys.stdout)
