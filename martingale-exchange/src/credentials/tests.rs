use super::*;

fn creds(tag: &str) -> Credentials {
    Credentials {
        api_key: Secret::new(format!("CANARY-AK-{tag}")),
        secret_key: Secret::new(format!("CANARY-SK-{tag}")),
        passphrase: Some(Secret::new(format!("CANARY-PP-{tag}"))),
    }
}

fn acct(a: &str) -> AccountId {
    AccountId::new(a).unwrap()
}

fn label(l: &str) -> KeyLabel {
    KeyLabel::new(l).unwrap()
}

fn key(byte: u8) -> MasterKey {
    MasterKey::from_bytes([byte; 32])
}

#[test]
fn round_trip_with_a_fresh_nonce_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::open(dir.path(), key(7)).unwrap();
    store.put(&acct("alice"), &label("main"), &creds("a")).unwrap();
    let first = fs::read_to_string(dir.path().join("alice/main.json")).unwrap();
    store.put(&acct("alice"), &label("main"), &creds("a")).unwrap();
    let second = fs::read_to_string(dir.path().join("alice/main.json")).unwrap();
    assert_ne!(first, second, "same keys, new nonce, new ciphertext");
    assert!(!second.contains("CANARY"));
    // Reopened with the same key: the same keys come back.
    let store = CredentialStore::open(dir.path(), key(7)).unwrap();
    let c = store.load(&acct("alice"), &label("main")).unwrap();
    assert_eq!((c.api_key.expose(), c.secret_key.expose()), ("CANARY-AK-a", "CANARY-SK-a"));
    assert_eq!(c.passphrase.as_ref().map(|p| p.expose()), Some("CANARY-PP-a"));
    assert_eq!(c.passphrase.as_ref().map(|p| p.expose()), Some("CANARY-PP-a"));
    assert_eq!(store.labels(&acct("alice")).unwrap(), vec![label("main")]);
    assert!(store.labels(&acct("nobody")).unwrap().is_empty());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join("alice/main.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    store.remove(&acct("alice"), &label("main")).unwrap();
    assert!(matches!(store.load(&acct("alice"), &label("main")), Err(CredentialError::NotFound { .. })));
}

#[test]
fn a_wrong_master_key_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    CredentialStore::open(dir.path(), key(1)).unwrap().put(&acct("a"), &label("k"), &creds("x")).unwrap();
    let err = CredentialStore::open(dir.path(), key(2)).unwrap_err();
    assert!(matches!(err, CredentialError::WrongKey(_)), "{err}");
}

#[test]
fn tampered_moved_or_renamed_records_never_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::open(dir.path(), key(3)).unwrap();
    store.put(&acct("alice"), &label("main"), &creds("alice")).unwrap();
    store.put(&acct("bob"), &label("main"), &creds("bob")).unwrap();
    store.put(&acct("bob"), &label("spare"), &creds("bob2")).unwrap();

    // One bit flipped in the ciphertext.
    let path = dir.path().join("bob/spare.json");
    let mut rec: SealedKeys = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut ct = b64.decode(&rec.ciphertext).unwrap();
    ct[0] ^= 1;
    rec.ciphertext = b64.encode(ct);
    fs::write(&path, serde_json::to_string(&rec).unwrap()).unwrap();
    assert!(matches!(store.load(&acct("bob"), &label("spare")), Err(CredentialError::Tampered { .. })));

    // Bob's record copied over Alice's: authenticated to bob/main, refused for alice/main.
    fs::copy(dir.path().join("bob/main.json"), dir.path().join("alice/main.json")).unwrap();
    let err = store.load(&acct("alice"), &label("main")).unwrap_err();
    assert!(matches!(err, CredentialError::Tampered { .. }), "{err}");
    // Renamed within one account: refused too.
    fs::copy(dir.path().join("bob/main.json"), dir.path().join("bob/other.json")).unwrap();
    assert!(matches!(store.load(&acct("bob"), &label("other")), Err(CredentialError::Tampered { .. })));

    // Not a record at all.
    fs::write(dir.path().join("bob/junk.json"), "{not json").unwrap();
    assert!(matches!(store.load(&acct("bob"), &label("junk")), Err(CredentialError::Malformed { .. })));
}

#[test]
fn a_user_cannot_reach_another_users_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::open(dir.path(), key(4)).unwrap();
    store.put(&acct("bob"), &label("main"), &creds("bob")).unwrap();
    let alice = store.account(acct("alice"));
    // Alice's view names only her own records: bob's label is not hers.
    assert!(matches!(alice.load(&label("main")), Err(CredentialError::NotFound { .. })));
    // Paths out of her directory cannot even be spelled.
    for bad in ["../bob/main", "..", "bob/main", "main.json/..", ""] {
        assert!(KeyLabel::new(bad).is_err(), "{bad}");
        assert!(serde_json::from_str::<KeyLabel>(&format!("{bad:?}")).is_err());
    }
    assert!(AccountId::new("../bob").is_err());
    // Storing under her own label never touches Bob's record.
    alice.put(&label("main"), &creds("alice")).unwrap();
    assert_eq!(store.load(&acct("bob"), &label("main")).unwrap().secret_key.expose(), "CANARY-SK-bob");
    assert_eq!(alice.load(&label("main")).unwrap().secret_key.expose(), "CANARY-SK-alice");
    assert_eq!(alice.labels().unwrap(), vec![label("main")]);
}

#[test]
fn master_keys_parse_from_hex_base64_env_and_file_and_never_show() {
    let k = MasterKey::generate();
    let b64 = k.to_base64();
    let again = MasterKey::parse(b64.expose()).unwrap();
    assert_eq!(again.0.as_slice(), k.0.as_slice());
    let hex_text = hex::encode([9u8; 32]);
    assert_eq!(MasterKey::parse(&format!(" {hex_text}\n")).unwrap().0.as_slice(), &[9u8; 32]);
    assert!(matches!(MasterKey::parse("c2hvcnQ="), Err(CredentialError::BadKey(_))));
    assert!(matches!(MasterKey::parse("not a key!"), Err(CredentialError::BadKey(_))));
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("master.key"), b64.expose()).unwrap();
    assert_eq!(MasterKey::from_file(dir.path().join("master.key")).unwrap().0.as_slice(), k.0.as_slice());
    assert!(matches!(MasterKey::from_file(dir.path().join("missing")), Err(CredentialError::MissingKey(_))));
    // The environment variable is read by name (set only in this test).
    std::env::set_var(MASTER_KEY_ENV, b64.expose());
    assert_eq!(MasterKey::from_env().unwrap().0.as_slice(), k.0.as_slice());
    std::env::remove_var(MASTER_KEY_ENV);
    assert!(matches!(MasterKey::from_env(), Err(CredentialError::MissingKey(_))));

    let store = CredentialStore::open(dir.path().join("s"), MasterKey::parse(b64.expose()).unwrap()).unwrap();
    store.put(&acct("u"), &label("l"), &creds("show")).unwrap();
    let c = store.load(&acct("u"), &label("l")).unwrap();
    let shown =
        format!("{k:?} {store:?} {:?} {c:?} {:?}", store.account(acct("u")), CredentialError::WrongKey("x".into()));
    assert!(!shown.contains("CANARY") && !shown.contains(b64.expose()), "{shown}");
}

#[test]
fn a_deleted_key_check_is_verified_against_the_records_never_resealed_blindly() {
    let dir = tempfile::tempdir().unwrap();
    CredentialStore::open(dir.path(), key(1)).unwrap().put(&acct("a"), &label("k"), &creds("x")).unwrap();
    fs::remove_file(dir.path().join("keycheck.json")).unwrap();
    // Before the fix this succeeded and sealed a new check with key 2.
    let err = CredentialStore::open(dir.path(), key(2)).unwrap_err();
    assert!(matches!(err, CredentialError::WrongKey(_)), "{err}");
    assert!(!dir.path().join("keycheck.json").exists(), "no check sealed with the wrong key");
    // The right key rebuilds the check (and the record's version) from the record.
    let store = CredentialStore::open(dir.path(), key(1)).unwrap();
    assert_eq!(store.load(&acct("a"), &label("k")).unwrap().api_key.expose(), "CANARY-AK-x");
    assert!(matches!(CredentialStore::open(dir.path(), key(2)), Err(CredentialError::WrongKey(_))));
    // An empty store may be opened with any key.
    let empty = tempfile::tempdir().unwrap();
    CredentialStore::open(empty.path(), key(5)).unwrap();
}

#[test]
fn an_old_record_restored_after_a_key_rotation_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::open(dir.path(), key(4)).unwrap();
    store.put(&acct("alice"), &label("main"), &creds("old")).unwrap();
    let old = fs::read(dir.path().join("alice/main.json")).unwrap();
    // The user rotates the API keys.
    store.put(&acct("alice"), &label("main"), &creds("new")).unwrap();
    fs::write(dir.path().join("alice/main.json"), &old).unwrap();
    let err = store.load(&acct("alice"), &label("main")).unwrap_err();
    assert!(matches!(err, CredentialError::RolledBack { found: 1, expected: 2, .. }), "{err}");
    // Also after reopening: the versions live in the key check.
    let store = CredentialStore::open(dir.path(), key(4)).unwrap();
    assert!(matches!(store.load(&acct("alice"), &label("main")), Err(CredentialError::RolledBack { .. })));
    // The counter is authenticated: editing it makes the record tampered.
    let mut rec: SealedKeys = serde_json::from_slice(&old).unwrap();
    rec.counter = Some(2);
    fs::write(dir.path().join("alice/main.json"), serde_json::to_vec(&rec).unwrap()).unwrap();
    assert!(matches!(store.load(&acct("alice"), &label("main")), Err(CredentialError::Tampered { .. })));
    // A removed record restored from a backup is refused as well.
    store.put(&acct("alice"), &label("main"), &creds("new")).unwrap();
    let current = fs::read(dir.path().join("alice/main.json")).unwrap();
    store.remove(&acct("alice"), &label("main")).unwrap();
    fs::write(dir.path().join("alice/main.json"), &current).unwrap();
    assert!(matches!(store.load(&acct("alice"), &label("main")), Err(CredentialError::RolledBack { .. })));
}

#[cfg(unix)]
#[test]
fn account_folders_that_are_symlinks_are_refused_and_folders_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let store = CredentialStore::open(dir.path().join("keys"), key(6)).unwrap();
    store.put(&acct("bob"), &label("main"), &creds("b")).unwrap();
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("keys")), 0o700);
    assert_eq!(mode(&dir.path().join("keys/bob")), 0o700);
    std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("keys/mallory")).unwrap();
    let err = store.put(&acct("mallory"), &label("main"), &creds("m")).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0, "nothing written through the link");
    assert!(store.load(&acct("mallory"), &label("main")).unwrap_err().to_string().contains("symbolic link"));
}
