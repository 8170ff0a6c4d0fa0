/**
 * Requests that use every field (protobufjs object form), shared by the decoder tests.
 */
import { hex, type Req } from "./fixtures.ts";

const str = (s: string) => ({ stringValue: s });
const int = (s: string) => ({ intValue: s });
const dbl = (x: number) => ({ doubleValue: x });
const kv = (key: string, value: Req) => ({ key, value });
export const TID = hex("4bf92f3577b34da6a3ce929d0e0e4736");
export const SID = hex("00f067aa0ba902b7");

/** A logs request that uses every field and every AnyValue kind. */
export const LOGS_REQ: Req = {
  resourceLogs: [
    {
      resource: {
        attributes: [
          kv("service.name", str("checkout")),
          kv("zeta", int("1")),
          kv("alpha", str("a")),
          kv("service.namespace", str("shop")),
          kv("service.instance.id", str("i-1")),
          kv("alpha", str("dup")),
        ],
        droppedAttributesCount: 1,
      },
      schemaUrl: "https://opentelemetry.io/schemas/1.26.0",
      scopeLogs: [
        {
          scope: {
            name: "my.lib",
            version: "1.2.3",
            attributes: [kv("scope.b", str("2")), kv("scope.a", str("1"))],
            droppedAttributesCount: 4,
          },
          schemaUrl: "https://scope",
          logRecords: [
            {
              timeUnixNano: "1700000000000000001",
              observedTimeUnixNano: "1700000000000000002",
              severityNumber: 9,
              severityText: "INFO",
              body: str("hello body"),
              attributes: [
                kv("s", str("héllo ✓")),
                kv("b", { boolValue: true }),
                kv("i_min", int("-9223372036854775808")),
                kv("i_max", int("9223372036854775807")),
                kv("i_neg", int("-1")),
                kv("i_big", int("9007199254740993")),
                kv("d_half", dbl(0.5)),
                kv("d_big", dbl(1e21)),
                kv("d_small", dbl(1e-7)),
                kv("d_nan", dbl(NaN)),
                kv("d_inf", dbl(Infinity)),
                kv("d_ninf", dbl(-Infinity)),
                kv("d_negzero", dbl(-0)),
                kv("d_int", dbl(3)),
                kv("by", { bytesValue: new Uint8Array([0, 1, 2, 253, 254, 255]) }),
                kv("arr", {
                  arrayValue: {
                    values: [
                      str('x"y\n\u0001'),
                      int("-5"),
                      dbl(1.5),
                      dbl(NaN),
                      { boolValue: false },
                      { bytesValue: new Uint8Array([255]) },
                      {},
                      { arrayValue: { values: [int("9007199254740993")] } },
                      { kvlistValue: { values: [kv("b", int("1")), kv("a", str("z"))] } },
                    ],
                  },
                }),
                kv("kv", {
                  kvlistValue: {
                    values: [
                      kv("z", str("last")),
                      kv("a", int("1")),
                      kv("m", { arrayValue: { values: [] } }),
                      kv("a", str("dup")),
                    ],
                  },
                }),
                kv("empty", {}),
                kv("b", str("duplicate loses")),
              ],
              droppedAttributesCount: 3,
              flags: 0x101,
              traceId: hex("0102030405060708090a0b0c0d0e0f10"),
              spanId: hex("a1a2a3a4a5a6a7a8"),
              eventName: "user.login",
            },
            {
              observedTimeUnixNano: "1700000000000000005",
              severityNumber: 17,
              severityText: "ERROR",
              body: {
                kvlistValue: {
                  values: [
                    kv("msg", str("boom")),
                    kv("code", int("42")),
                    kv("nested", {
                      kvlistValue: {
                        values: [
                          kv("y", { boolValue: true }),
                          kv("x", { bytesValue: new Uint8Array([1]) }),
                        ],
                      },
                    }),
                  ],
                },
              },
              traceId: new Uint8Array(16),
            },
            {},
          ],
        },
      ],
    },
    {
      scopeLogs: [{ logRecords: [{ timeUnixNano: "3600000000000", body: int("7") }] }],
    },
  ],
};

function span(i: number, extra: Req = {}): Req {
  return {
    traceId: TID,
    spanId: hex(`00000000000000${(i + 1).toString(16).padStart(2, "0")}`),
    name: `span-${i}`,
    kind: i % 6,
    startTimeUnixNano: "1700000000000000000",
    endTimeUnixNano: "1700000000000001500",
    ...extra,
  };
}

export const TRACES_REQ: Req = {
  resourceSpans: [{
    resource: {
      attributes: [
        kv("service.name", { stringValue: "api" }),
        kv("host.name", { stringValue: "h1" }),
      ],
    },
    schemaUrl: "https://res",
    scopeSpans: [{
      scope: { name: "tracer", version: "0.1", attributes: [kv("x", { stringValue: "y" })] },
      spans: [
        span(0, {
          parentSpanId: SID,
          traceState: "rojo=00f067aa0ba902b7",
          flags: 0x301,
          attributes: [
            kv("http.method", { stringValue: "GET" }),
            kv("http.status_code", { intValue: "200" }),
          ],
          droppedAttributesCount: 2,
          events: [
            {
              timeUnixNano: "1700000000000000100",
              name: "start",
              attributes: [kv("b", { boolValue: false }), kv("a", { doubleValue: 2.5 })],
            },
            { timeUnixNano: "1700000000000000200", name: "" },
          ],
          droppedEventsCount: 3,
          links: [
            {
              traceId: hex("0af7651916cd43dd8448eb211c80319c"),
              spanId: hex("b7ad6b7169203331"),
              traceState: "a=b",
              attributes: [kv("l", { intValue: "-1" })],
              flags: 1,
            },
            { traceId: new Uint8Array(16), spanId: new Uint8Array(8) },
          ],
          droppedLinksCount: 4,
          status: { code: 2, message: "boom" },
        }),
        span(1, { status: { code: 1 } }),
        span(2, { startTimeUnixNano: "0", endTimeUnixNano: "18446744073709551615" }),
        span(3, { endTimeUnixNano: "1699999999999999999" }), // ends before it starts
        span(4, { startTimeUnixNano: "4294967295", endTimeUnixNano: "4294967296" }), // borrow across halves
        span(5, { kind: 9, status: { code: 7 } }), // unknown enum values
      ],
    }],
  }],
};

/** The time of the data points in the requests above (ns). */
export const POINT_NS = "1700000000000000000";

export const METRICS_REQ: Req = {
  resourceMetrics: [{
    resource: {
      attributes: [
        kv("service.name", str("m")),
        kv("service.namespace", str("ns")),
        kv("service.instance.id", str("inst")),
      ],
    },
    schemaUrl: "https://r",
    scopeMetrics: [{
      scope: {
        name: "meter",
        version: "2",
        attributes: [kv("k", str("v"))],
        droppedAttributesCount: 5,
      },
      schemaUrl: "https://s",
      metrics: [
        {
          name: "temp",
          description: "Temperature",
          unit: "Cel",
          gauge: {
            dataPoints: [
              {
                asDouble: 21.5,
                attributes: [kv("room", str("a"))],
                startTimeUnixNano: "1",
                timeUnixNano: POINT_NS,
                flags: 1,
                exemplars: [
                  {
                    asInt: "7",
                    timeUnixNano: "1700000000000000001",
                    spanId: SID,
                    traceId: TID,
                    filteredAttributes: [kv("user", str("u"))],
                  },
                  { asDouble: 0.25 },
                ],
              },
              { asInt: "-9007199254740993", timeUnixNano: POINT_NS },
              { timeUnixNano: POINT_NS }, // no value: rejected
              { asInt: "9223372036854775807", timeUnixNano: POINT_NS },
            ],
          },
        },
        {
          name: "requests",
          unit: "1",
          sum: {
            aggregationTemporality: 2,
            isMonotonic: true,
            dataPoints: [
              { asInt: "10", timeUnixNano: POINT_NS },
              { timeUnixNano: POINT_NS },
              { timeUnixNano: POINT_NS, flags: 1 },
              { asDouble: NaN, timeUnixNano: POINT_NS },
            ],
          },
        },
        {
          name: "latency",
          unit: "ms",
          histogram: {
            aggregationTemporality: 1,
            dataPoints: [
              {
                count: "5",
                sum: 12.5,
                bucketCounts: ["1", "2", "2"],
                explicitBounds: [1, 10],
                min: 0.5,
                max: 9,
                timeUnixNano: POINT_NS,
                startTimeUnixNano: "1699999999000000000",
                exemplars: [{ asDouble: 3, traceId: TID, spanId: SID }],
              },
              { count: "18446744073709551615", timeUnixNano: POINT_NS },
            ],
          },
        },
        {
          name: "exp",
          exponentialHistogram: {
            aggregationTemporality: 2,
            dataPoints: [{
              count: "6",
              sum: 3,
              scale: -3,
              zeroCount: "2",
              positive: { offset: -2, bucketCounts: ["1", "3"] },
              negative: { offset: 5, bucketCounts: ["9007199254740993"] },
              min: -1,
              max: 4,
              zeroThreshold: 1e-9,
              flags: 1,
              timeUnixNano: POINT_NS,
            }],
          },
        },
        {
          name: "sum_q",
          summary: {
            dataPoints: [
              {
                count: "3",
                sum: 7.5,
                quantileValues: [{ quantile: 0.5, value: 2 }, { quantile: 0.99, value: 5 }],
                timeUnixNano: POINT_NS,
                attributes: [kv("z", { intValue: "1" }), kv("a", { boolValue: true })],
              },
              { timeUnixNano: POINT_NS },
            ],
          },
        },
        { name: "no-data" },
        { name: "none", gauge: { dataPoints: [{ timeUnixNano: POINT_NS }] } },
      ],
    }],
  }],
};
