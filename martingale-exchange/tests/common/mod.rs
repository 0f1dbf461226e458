pub mod crashy;
pub mod fake_binance;
