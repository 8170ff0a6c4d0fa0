/**
 * The tests' reference time: `T0`, 2024-05-01T10:00:00Z in epoch nanoseconds (an hour boundary,
 * so `T0 + n * HOUR_NS` lands in hour partition n), shared by every fixture that needs a base.
 */
export const T0 = 1_714_557_600_000_000_000n;
export const HOUR_NS = 3_600_000_000_000n;
