pub mod crashy;
pub mod fake_binance;
pub mod fake_bybit;
pub mod venue_crash;
