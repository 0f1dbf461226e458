//! The repository's `examples/bots/example.json` (used by the examples, the
//! Python tests and the docs) is the very text martingale-core embeds as
//! its example bot (`martingale-core/bots/example.json`).

#[test]
fn the_root_example_bot_is_the_embedded_one() {
    assert_eq!(include_str!("../examples/bots/example.json"), martingale_core::config::EXAMPLE_BOT_JSON);
    assert_eq!(
        martingale_core::config::BotFile::example().unwrap(),
        include_str!("../examples/bots/example.json").parse().unwrap()
    );
}

/// The W5 benchmark's bot file reads the same through the exact reader and
/// through serde_json (its numbers need no more than f64 digits).
#[test]
fn the_w5_bot_reads_the_same_exactly_and_through_serde() {
    use martingale_core::config::BotFile;
    let w5 = include_str!("../examples/bots/w5.json");
    assert_eq!(BotFile::from_json(w5).unwrap(), serde_json::from_str::<BotFile>(w5).unwrap());
}
