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
