pub mod book;
pub mod crashy;
pub mod fake_binance;
pub mod fake_bybit;
pub mod fake_coindcx;
pub mod fake_okx;
pub mod proxy;
pub mod venue_crash;
