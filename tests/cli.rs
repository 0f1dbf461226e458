//! The `martingale` program driven as a child process, as an operator would.

use std::process::{Command, Output, Stdio};

fn martingale(data: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_martingale"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("MARTINGALE_DB")
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn users_and_bots_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ok = |args: &[&str]| {
        let o = martingale(&data, args);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{args:?}: {err}");
        out
    };
    assert!(ok(&["user", "add", "alice"]).contains("added user alice"));
    ok(&["user", "add", "bob"]);
    assert_eq!(ok(&["user", "list"]), "alice\nbob\n");
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/bots/example.json");
    assert!(ok(&["bot", "add", file, "--user", "alice", "--id", "a-btc"]).contains("(stopped)"));
    let list = ok(&["bot", "list"]);
    assert!(list.lines().nth(1).unwrap().starts_with("a-btc"), "{list}");
    assert!(ok(&["bot", "show", "a-btc", "--user", "alice"]).contains("\"take_profit\""));

    // Errors: named, exit code 1, nothing written.
    let fail = |args: &[&str], needle: &str| {
        let o = martingale(&data, args);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    };
    fail(&["bot", "show", "a-btc", "--user", "bob"], "bot \"a-btc\" not found");
    fail(&["bot", "add", file, "--user", "carol", "--id", "c-btc"], "user \"carol\" not found");
    fail(&["bot", "add", "/nonexistent.json", "--user", "bob", "--id", "b-btc"], "/nonexistent.json");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "[]").unwrap();
    fail(&["bot", "add", bad.to_str().unwrap(), "--user", "bob", "--id", "b-btc"], "bot file");
    fail(&["bot", "add", file, "--user", "bob", "--id", "has space"], "bot id");
    assert_eq!(ok(&["bot", "list", "--user", "bob"]).lines().count(), 1, "only the header");
    // Usage errors are clap's (exit code 2).
    assert_eq!(martingale(&data, &["bot", "frobnicate"]).status.code(), Some(2));
    ok(&["bot", "rm", "a-btc", "--user", "alice"]);
    assert_eq!(ok(&["bot", "list"]).lines().count(), 1);
}

#[test]
fn a_corrupt_database_is_named_and_a_closed_pipe_is_quiet() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("martingale.db"), b"not a database at all").unwrap();
    let o = martingale(dir.path(), &["user", "list"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("martingale.db"), "{err}");

    let data = dir.path().join("ok");
    for i in 0..200 {
        assert!(martingale(&data, &["user", "add", &format!("u{i:03}")]).status.success());
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_martingale"))
        .arg("--data")
        .arg(&data)
        .args(["user", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before anything is read
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert!(o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
}
