//! Parameter sweeps: many strategies over one candle series, in parallel.
